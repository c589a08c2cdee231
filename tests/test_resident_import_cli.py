"""``main.py import-residents``: the console's 批量导入 from the shell, its exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from main import main
from models.events import AuditEntry
from models.vehicles import Vehicle
from tests.api.test_resident_import import CHANGED, FIRST, ROWS, SHEET, csv_bytes, on_file
from tests.conftest import add_user
from tests.test_enrol_folder import _run_against


def vehicles(services: Any) -> int:
    with services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Vehicle)) or 0)


def errors_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]


def test_dry_run_then_import(client: Any, admin_headers: dict[str, str], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    services = client.app.state.services
    _run_against(services, monkeypatch)
    path = tmp_path / "住户.csv"
    path.write_bytes(csv_bytes(ROWS, encoding="gb18030"))

    assert main(["import-residents", str(path), "--dry-run", "--operator", "admin"]) == 0
    assert vehicles(services) == 0
    assert "vehicles 3 new" in capsys.readouterr().err

    assert main(["import-residents", str(path), "--operator", "ADMIN"]) == 0
    assert vehicles(services) == 3
    with services.sessions() as session:
        entry = session.scalars(select(AuditEntry)
                                .where(AuditEntry.action == "household.import")).one()
        assert (entry.username, entry.details["file"]) == ("admin", "住户.csv")


def test_rows_in_error_exit_1_and_import_nothing(
    client: Any, admin_headers: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    services = client.app.state.services
    _run_against(services, monkeypatch)
    path = tmp_path / "住户.csv"
    path.write_bytes(csv_bytes([*ROWS, "6栋,1,赵六,,闽A12345,,"]))
    assert main(["import-residents", str(path), "--operator", "admin"]) == 1
    err = capsys.readouterr().err
    assert "row 6: 车牌 闽A12345 在第 2 行已经有了" in err and "nothing imported" in err
    assert vehicles(services) == 0


@pytest.mark.parametrize(
    ("setup", "operator", "said"),
    [
        ("missing", "admin", "is not a file"),
        ("xlsx", "admin", "Excel workbook"),
        ("header", "admin", "lacks the column(s) building, unit"),
        ("good", "guard1", "'guard1' is a guard account, not an admin: an import"),
        ("good", "nobody", "'nobody' is no staff account"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    client: Any, admin_headers: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    setup: str, operator: str, said: str,
) -> None:
    services = client.app.state.services
    add_user(client, "guard1", "guard")
    _run_against(services, monkeypatch)
    path = tmp_path / "file.csv"
    content = {"xlsx": b"PK\x03\x04zip", "header": "姓名\n张伟\n".encode(),
               "good": csv_bytes(ROWS)}.get(setup)
    if content is not None:
        path.write_bytes(content)
    capsys.readouterr()

    assert main(["import-residents", str(path), "--operator", operator]) == 2

    errors = errors_of(capsys)
    assert len(errors) == 1 and said in errors[0], errors
    assert vehicles(services) == 0


def test_a_re_import_lists_its_updates_in_the_dry_run_and_applies_them(
    client: Any, admin_headers: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    services = client.app.state.services
    _run_against(services, monkeypatch)
    path = tmp_path / "总表.csv"
    path.write_bytes(csv_bytes(FIRST, header=SHEET))
    assert main(["import-residents", str(path), "--operator", "admin"]) == 0
    path.write_bytes(csv_bytes(CHANGED, header=SHEET))
    capsys.readouterr()

    assert main(["import-residents", str(path), "--dry-run", "--operator", "admin"]) == 0

    err = capsys.readouterr().err
    assert "households 0 new, 2 to update, 0 unchanged; residents 0 new, 1 to update" in err
    assert "row 2: 3栋 1201: spaces 1 -> 2" in err
    # Masked: the log outlives the session and is read by more than the console's admins.
    assert "row 2: 3栋 1201 张伟: phone 138****8000 -> 138****8001" in err
    assert "row 4: 5栋 601: note (empty) -> 租户" in err
    assert "13800138001" not in err and on_file(client)["张伟"] == "13800138000"

    assert main(["import-residents", str(path), "--operator", "admin"]) == 0

    err = capsys.readouterr().err
    assert "imported: 3 rows" in err and "households 0 new, 2 updated" in err
    assert on_file(client)["张伟"] == "13800138001"

    # The same file once more changes nothing: no audit entry, and the log says so.
    assert main(["import-residents", str(path), "--operator", "admin"]) == 0
    err = capsys.readouterr().err
    assert "households 0 new, 0 updated, 2 unchanged" in err
    assert "everything in the file is on file already: nothing written, no audit entry" in err
    assert "audit entry None" not in err and "audit None" not in err


def test_an_import_from_the_shell_reaches_the_running_controllers_outage_snapshot_at_once(
    app_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command runs in a process of its own: it tells the controller through the data
    directory, and the snapshot the gates decide from during an outage has the new cars
    within moments, not at the next refresh (an hour away here)."""
    from tests.api.test_snapshot_follows_admin_edits import plates
    from tests.conftest import wait_until

    client = app_factory(access={"offline_refresh_s": 3600, "offline_retry_s": 0.2})
    add_user(client, "admin", "admin")
    services = client.app.state.services
    saved = services.settings.data_dir / "journal" / "offline_snapshot.json"
    wait_until(saved.is_file, 10.0, "the snapshot taken at start")
    _run_against(services, monkeypatch)
    path = tmp_path / "住户.csv"
    path.write_bytes(csv_bytes(ROWS, encoding="gb18030"))
    plate = "粤B67890"  # 5栋601's car in ROWS
    assert plate not in plates(saved)

    assert main(["import-residents", str(path), "--operator", "admin"]) == 0
    wait_until(lambda: "vehicle" in plates(saved).get(plate, {}), 10.0,
               f"{plate} in the outage snapshot")


def test_plates_typed_loosely_in_the_file_are_the_one_plate(
    client: Any, admin_headers: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The office's sheet as it comes: a plate pasted from WeChat (zero-width space), typed
    on a traditional-Chinese input method, in full-width letters. Each is stored as the
    canonical plate, and the same car twice in the file is a row error however spelt."""
    services = client.app.state.services
    _run_against(services, monkeypatch)
    path = tmp_path / "住户.csv"
    path.write_bytes(csv_bytes(["3栋,1201,张伟,,闽a·12345\u200b,,",
                                "5栋,601,王芳,,粵Ｂ６７８９０,,"]))
    assert main(["import-residents", str(path), "--operator", "admin"]) == 0
    with services.sessions() as session:
        assert sorted(session.scalars(select(Vehicle.plate))) == ["粤B67890", "闽A12345"]

    path.write_bytes(csv_bytes(["6栋,1,赵六,,粤B00001,,", "6栋,1,赵六,,閩A12345,,"]))
    assert main(["import-residents", str(path), "--operator", "admin"]) == 1
    assert "row 3: 车牌 闽A12345 已登记在" in capsys.readouterr().err
    assert vehicles(services) == 2
