"""Bulk face enrolment from a folder (issue 4): progress, a summary of every failure."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from main import main
from services.enrol_folder import enrol_folder
from tests.api.test_faces import new_resident
from tests.conftest import SHARED_DATA

FACES = SHARED_DATA / "faces"


def test_folder_import_enrols_by_id_and_name_and_reports_failures(
    client: Any, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    obama = FACES / "ag_barack_obama"
    if not obama.is_dir():
        pytest.skip(f"real face photos not found at {FACES}")
    by_id = new_resident(client, admin_headers)
    hid = client.get(f"/api/v1/residents/{by_id}", headers=admin_headers).json()["household_id"]
    client.post("/api/v1/residents", json={"household_id": hid, "name": "Joe"},
                headers=admin_headers)
    folder = tmp_path / "import"
    (folder / str(by_id)).mkdir(parents=True)
    shutil.copy(obama / "examples__knn_examples__train__obama__obama.jpg", folder / str(by_id))
    (folder / "Joe").mkdir()
    alex = FACES / "ag_alex_lacamoire" / "examples__knn_examples__train__alex_lacamoire__img1.jpg"
    shutil.copy(alex, folder / "Joe")
    (folder / "Joe" / "notes.jpg").write_bytes(b"not a photo")
    (folder / "Nobody").mkdir()
    (folder / "Nobody" / "a.jpg").write_bytes(b"x")

    summary = enrol_folder(
        client.app.state.services, folder, operator="office", record_consent=True,
        note="paper forms, box 3", show_progress=False,
    )
    assert summary.enrolled == {str(by_id): 1, "Joe": 1}
    failed = dict(summary.failures)
    assert "not a JPEG" in failed["Joe/notes.jpg"]
    assert "no resident named 'Nobody'" in failed["Nobody"]


def test_cli_refuses_a_missing_folder_with_exit_code_2(tmp_path: Path) -> None:
    code = main(["enrol-faces", str(tmp_path / "missing"), "--operator", "office"])
    assert code == 2


def test_cli_refuses_a_folder_without_resident_sub_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One person's photos given as the import folder (one level too deep) is a mistake to
    name, not "enrolled 0 residents; 0 failures" with success."""
    folder = tmp_path / "王秀英"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"x")
    (folder / "b.JPG").write_bytes(b"x")
    code = main(["enrol-faces", str(folder), "--operator", "office"])
    assert code == 2
    said = capsys.readouterr().err  # main() logs to stderr
    assert "has no sub-folders (2 photos lie in it directly)" in said
    assert "<resident id or name>" in said


def test_cli_says_a_running_controller_needs_a_restart_to_use_the_faces(
    client: Any, admin_headers: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The import writes the database; the controller running beside it (``client``) reads
    templates into its matcher only when it starts, so the office must be told to restart."""
    obama = FACES / "ag_barack_obama" / "examples__knn_examples__train__obama__obama.jpg"
    if not obama.is_file():
        pytest.skip(f"real face photos not found at {FACES}")
    resident = new_resident(client, admin_headers)
    folder = tmp_path / "import"
    (folder / str(resident)).mkdir(parents=True)
    shutil.copy(obama, folder / str(resident))
    settings = client.app.state.services.settings
    monkeypatch.delenv("PARKGATE_CONFIG", raising=False)
    monkeypatch.setenv("PARKGATE_DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("PARKGATE_DATA_DIR", str(settings.data_dir))

    code = main(["enrol-faces", str(folder), "--operator", "admin", "--record-consent",
                 "--note", "paper forms, box 3"])

    assert code == 0
    faces = client.get(f"/api/v1/residents/{resident}/faces", headers=admin_headers).json()
    assert faces["templates"] == 1
    said = capsys.readouterr().err
    assert "restart parkgate" in said
    assert "recognise the 1 resident(s) just enrolled" in said
