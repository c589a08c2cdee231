"""批量导入: households, residents and cars from the office's spreadsheet, on SQLite and
PostgreSQL (the ``client`` fixture runs each test on both when PostgreSQL is configured)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from models.events import AuditEntry
from models.people import Household, Resident
from models.vehicles import Vehicle
from services.resident_import_file import MAX_BYTES, MAX_ROWS, template_csv
from tests.api.test_console import add_staff
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import add_user

URL = "/api/v1/households/import"
HEADER = "楼栋,房号,姓名,电话,车牌,车牌颜色,备注"
ROWS = [
    "3栋,1201,张伟,13800138000,闽a·12345,蓝,业主",
    "3栋,1201,李娜,13900139000,,,",
    "３栋,1201,,,闽B22222,绿,",  # full-width 3: the same flat; a car without a driver
    "5栋,601,王芳,,粤B67890,黄,租户",
]


def csv_bytes(rows: list[str], *, header: str = HEADER, encoding: str = "utf-8-sig",
              sep: str = ",") -> bytes:
    lines = [header, *rows]
    return "\r\n".join(line.replace(",", sep) for line in lines).encode(encoding)


def upload(client: Any, headers: dict[str, str], data: bytes, *, dry_run: bool,
           name: str = "住户.csv") -> Any:
    return client.post(URL, params={"dry_run": str(dry_run).lower()}, headers=headers,
                       files={"file": (name, data, "text/csv")})


def tally(create: int, existing: int = 0, *, update: int = 0) -> dict[str, int]:
    """An answer's counts of one kind: ``existing`` is ``update`` plus ``unchanged``."""
    return {"create": create, "existing": existing, "update": update,
            "unchanged": existing - update}


def counts(client: Any) -> tuple[int, int, int, int]:
    with client.app.state.services.sessions() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Household, Resident, Vehicle, AuditEntry)
        )


@pytest.mark.parametrize("encoding", ["gb18030", "gbk", "utf-8-sig", "utf-8"])
def test_a_gbk_or_utf8_file_previews_then_imports_grouped_into_households(
    client: Any, admin_headers: dict[str, str], encoding: str
) -> None:
    data = csv_bytes(ROWS, encoding=encoding)
    before = counts(client)

    preview = upload(client, admin_headers, data, dry_run=True)

    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["encoding"] == ("gb18030" if encoding.startswith("gb") else "utf-8")
    assert (body["rows"], body["errors"], body["applied"]) == (4, [], False)
    assert body["households"] == tally(2)
    assert body["residents"] == tally(3)
    assert body["vehicles"] == tally(3)
    assert counts(client) == before  # a preview writes nothing, not even an audit entry

    result = upload(client, admin_headers, data, dry_run=False)

    assert result.status_code == 200, result.text
    assert result.json()["applied"] is True
    with client.app.state.services.sessions() as session:
        flats = {(h.building, h.unit): h for h in session.scalars(select(Household))}
        assert set(flats) == {("3栋", "1201"), ("5栋", "601")}
        assert flats[("5栋", "601")].note == "租户"
        people = {r.name: r for r in session.scalars(select(Resident))}
        assert people["张伟"].phone == "13800138000"
        assert people["张伟"].household_id == people["李娜"].household_id
        cars = {v.plate: v for v in session.scalars(select(Vehicle))}
        assert cars["闽A12345"].resident_id == people["张伟"].id  # the row's driver
        assert cars["闽A12345"].plate_color == "blue"
        assert cars["闽B22222"].resident_id is None
        assert cars["闽B22222"].household_id == flats[("3栋", "1201")].id


def test_existing_household_and_resident_are_reused_and_a_second_import_adds_nothing(
    client: Any, admin_headers: dict[str, str]
) -> None:
    hid = client.post("/api/v1/households", json={"building": "3栋", "unit": "1201",
                                                  "spaces": 2}, headers=admin_headers).json()["id"]
    client.post("/api/v1/residents", json={"household_id": hid, "name": "张伟"},
                headers=admin_headers)

    body = upload(client, admin_headers, csv_bytes(ROWS), dry_run=False).json()

    # The sheet's 备注 and 张伟's phone fill what the console left empty.
    assert body["households"] == tally(1, 1, update=1)
    assert body["residents"] == tally(2, 1, update=1)
    with client.app.state.services.sessions() as session:
        zhang = session.scalars(select(Resident).where(Resident.name == "张伟")).one()
        assert zhang.household_id == hid
        car = session.scalars(select(Vehicle).where(Vehicle.plate == "闽A12345")).one()
        assert (car.household_id, car.resident_id) == (hid, zhang.id)
        assert session.get(Household, hid).spaces == 2  # not changed by the file
    again = upload(client, admin_headers, csv_bytes(ROWS), dry_run=False).json()
    assert again["applied"] is True
    assert [again[k]["create"] for k in ("households", "residents", "vehicles")] == [0, 0, 0]
    assert (again["changes"], again["households"]["update"], again["residents"]["update"]) == (
        [], 0, 0)
    # One owner on two rows (two cars) is one resident on file, not two (found by the
    # onboarding walk: 301 shown for 300 people).
    two_cars = upload(client, admin_headers, csv_bytes(
        [*ROWS, "3栋,1201,张伟,13800138000,闽A67890,蓝,"]), dry_run=True).json()
    assert two_cars["residents"] == tally(0, 3)
    assert two_cars["vehicles"] == tally(1, 3)


# The office's master sheet with 车位数, before and after its changes.
SHEET = "楼栋,房号,姓名,电话,车牌,车牌颜色,车位数,备注"
FIRST = ["3栋,1201,张伟,13800138000,闽A12345,蓝,1,业主", "3栋,1201,李娜,13900139000,,,,",
         "5栋,601,王芳,13700137000,,,1,"]
CHANGED = [
    "3栋,1201,张伟,13800138001,闽A12345,蓝,2,业主",  # a new phone, one more space
    "3栋,1201,李娜,,,,,",  # the sheet lost her phone: kept, not erased
    "5栋,601,王芳,137-0013-7000,,,,租户",  # the same phone spelt otherwise; a note; no 车位数
]


def on_file(client: Any) -> dict[str, Any]:
    with client.app.state.services.sessions() as session:
        return {
            **{f"{h.building} {h.unit}": (h.spaces, h.note)
               for h in session.scalars(select(Household))},
            **{r.name: r.phone for r in session.scalars(select(Resident))},
        }


def test_a_re_imported_sheet_previews_its_changes_then_applies_and_audits_them(
    client: Any, admin_headers: dict[str, str]
) -> None:
    first = upload(client, admin_headers, csv_bytes(FIRST, header=SHEET), dry_run=False)
    assert first.json()["applied"] is True, first.text
    kept = on_file(client)
    before = counts(client)

    preview = upload(client, admin_headers, csv_bytes(CHANGED, header=SHEET), dry_run=True)

    body = preview.json()
    assert (body["errors"], body["households_not_in_file"]) == ([], 0)
    changes = [(c["row"], c["who"], c["field"], c["old"], c["new"]) for c in body["changes"]]
    assert changes == [
        (2, "3栋 1201", "spaces", 1, 2),
        (2, "3栋 1201 张伟", "phone", "13800138000", "13800138001"),
        (4, "5栋 601", "note", "", "租户"),
    ]
    assert body["households"] == tally(0, 2, update=2)
    assert body["residents"] == tally(0, 3, update=1)
    assert body["vehicles"] == tally(0, 1)
    assert (counts(client), on_file(client)) == (before, kept)  # a preview writes nothing

    done = upload(client, admin_headers, csv_bytes(CHANGED, header=SHEET), dry_run=False)

    assert done.status_code == 200 and done.json()["applied"] is True, done.text
    assert on_file(client) == {"3栋 1201": (2, "业主"), "5栋 601": (1, "租户"),
                               "张伟": "13800138001", "李娜": "13900139000",
                               "王芳": "13700137000"}
    with client.app.state.services.sessions() as session:
        updates = {e.target: e for e in session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(("household.update", "resident.update"))))}
        zhang = session.scalars(select(Resident).where(Resident.name == "张伟")).one()
        flats = {h.building: h.id for h in session.scalars(select(Household))}
    summary_id = done.json()["audit_id"]
    assert updates[f"household:{flats['3栋']}"].details == {
        "fields": ["spaces"], "changes": {"spaces": [1, 2]}, "import_audit_id": summary_id}
    # As at creation: the note's words and the phone number stay out of the log (PIPL).
    assert updates[f"household:{flats['5栋']}"].details == {
        "fields": ["note"], "import_audit_id": summary_id}
    assert updates[f"resident:{zhang.id}"].details == {
        "fields": ["phone"], "import_audit_id": summary_id}
    assert updates[f"resident:{zhang.id}"].action == "resident.update" and len(updates) == 3

    before = counts(client)
    again = upload(client, admin_headers, csv_bytes(CHANGED, header=SHEET), dry_run=False)
    assert again.json()["changes"] == [] and again.json()["applied"] is True
    assert again.json()["households"] == tally(0, 2) and again.json()["residents"] == tally(0, 3)
    # Nothing written, not even a summary entry: nothing changed (audit_id null).
    assert counts(client) == before and again.json()["audit_id"] is None

    # Two 车位数 for one flat on file is a row error, as for a new flat: which one is meant?
    twice = upload(client, admin_headers, csv_bytes(
        ["3栋,1201,张伟,,,,3,", "3栋,1201,李娜,,,,4,"], header=SHEET), dry_run=True).json()
    assert [(e["row"], "车位数和第 2 行（同一户）不一样" in e["message"])
            for e in twice["errors"]] == [(3, True)]
    # Households on file the sheet leaves out are counted, never deleted.
    partial = upload(client, admin_headers, csv_bytes(CHANGED[:1], header=SHEET), dry_run=False)
    assert partial.json()["households_not_in_file"] == 1
    assert counts(client)[:3] == before[:3]


def test_a_phone_on_a_later_row_of_the_same_person_is_the_one_taken(
    client: Any, admin_headers: dict[str, str]
) -> None:
    # One owner on two rows (two cars), the phone written on the second only.
    rows = ["3栋,1201,张伟,,闽A12345,蓝,", "3栋,1201,张伟,13800138000,闽A67890,蓝,"]
    done = upload(client, admin_headers, csv_bytes(rows), dry_run=False).json()
    assert done["applied"] is True and on_file(client)["张伟"] == "13800138000"
    conflict = upload(client, admin_headers, csv_bytes(
        [*rows, "3栋,1201,张伟,13900139000,,,"]), dry_run=True).json()
    assert [e["message"] for e in conflict["errors"]] == [
        "张伟 的电话和第 3 行（同一户）不一样：同一个人只写一个电话"]


def test_duplicate_plates_in_the_file_and_in_the_database_are_row_errors_and_nothing_is_imported(
    client: Any, admin_headers: dict[str, str]
) -> None:
    register_resident_car(client, admin_headers, "粤B67890")  # 3栋 1201
    rows = [*ROWS, "6栋,101,赵六,,闽A12345,,", "7栋,1,孙七,abc,沪X,紫,"]
    before = counts(client)

    response = upload(client, admin_headers, csv_bytes(rows), dry_run=False)

    assert response.status_code == 422, response.text
    body = response.json()
    assert "nothing was imported" in body["detail"] and body["applied"] is False
    errors = {e["row"]: e for e in body["errors"]}
    assert set(errors) == {5, 6, 7}  # row 1 is the header, as the spreadsheet numbers them
    assert "已登记在 3栋 1201（住户 #" in errors[5]["message"]  # 粤B67890, 5栋 601's row
    assert "在第 2 行已经有了" in errors[6]["message"]
    assert errors[6]["content"].startswith("6栋, 101, 赵六")
    assert "电话：格式不正确" in errors[7]["message"]
    assert "车牌：" in errors[7]["message"] and "不是有效的车牌号" in errors[7]["message"]
    assert "车牌颜色“紫”" in errors[7]["message"]
    assert counts(client) == before  # all or nothing: not even the good rows


def test_the_import_is_audited_once_as_a_summary_and_per_object_as_the_api_does(
    client: Any, admin_headers: dict[str, str]
) -> None:
    body = upload(client, admin_headers, csv_bytes(ROWS), dry_run=False, name="一期.csv").json()

    with client.app.state.services.sessions() as session:
        summary = session.get(AuditEntry, body["audit_id"])
        assert (summary.action, summary.username) == ("household.import", "admin")
        assert summary.details["file"] == "一期.csv"
        assert summary.details["vehicles"] == tally(3)
        linked = list(session.scalars(select(AuditEntry).where(
            AuditEntry.action.in_(("household.create", "resident.create", "vehicle.create")))))
        assert len(linked) == 2 + 3 + 3
        assert all(e.details["import_audit_id"] == summary.id for e in linked)
        car = next(e for e in linked if e.details.get("plate") == "闽A12345")
        assert set(car.details) == {"plate", "household_id", "resident_id", "plate_color",
                                    "import_audit_id"}
        assert car.target.startswith("vehicle:") and car.at is not None


def test_a_re_import_that_changes_nothing_writes_no_audit_entry(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """An entry records a change: a file imported again whose rows are all on file as they are
    was logged as another 批量导入 of 0 households, 0 residents, 0 cars (as a consent
    withdrawal that withdrew nothing is not logged, services/faces.py)."""
    first = upload(client, admin_headers, csv_bytes(ROWS), dry_run=False).json()
    assert first["audit_id"] is not None

    def entries() -> int:
        with client.app.state.services.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)

    before = entries()
    again = upload(client, admin_headers, csv_bytes(ROWS), dry_run=False)
    assert again.status_code == 200, again.text
    assert (again.json()["applied"], again.json()["audit_id"]) == (True, None)
    assert [again.json()[k]["unchanged"] for k in ("households", "residents")] == [2, 3]
    assert entries() == before
    # One changed phone is a change again: audited as before.
    changed = [ROWS[0].replace("13800138000", "13800138009"), *ROWS[1:]]
    assert "13800138000" in ROWS[0]
    updated = upload(client, admin_headers, csv_bytes(changed), dry_run=False).json()
    assert updated["audit_id"] is not None and entries() == before + 2  # summary + resident


def test_the_gate_admits_an_imported_plate_right_after_the_import(
    client: Any, admin_headers: dict[str, str]
) -> None:
    # No typed plate before the import: a second one within seconds at the same gate is
    # answered as a repeat of the first (controllers/runtime.py TYPED_REPEAT_WINDOW).
    imported = upload(client, admin_headers, csv_bytes(ROWS), dry_run=False)
    assert imported.json()["applied"] is True, imported.text
    after = client.post("/api/v1/gates/main-in/typed-plate",
                        json={"plate": "粤B67890", "reason": "摄像头故障"}, headers=admin_headers)

    assert after.status_code == 200, after.text
    assert (after.json()["decision"], after.json()["reason"]) == ("allow", "resident")
    assert after.json()["household"] == "5栋 601"


PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"


def test_five_thousand_rows_import(client: Any, admin_headers: dict[str, str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A sanity check, not a benchmark: the time is printed (-s), not asserted."""
    rows = [f"{i % 40 + 1}栋,{i // 40 + 1:03d}{i % 2},住户{i},1380000{i:04d},"
            f"{PROVINCES[i % 31]}{'ABCDEFGH'[i % 8]}{i:05d},蓝," for i in range(5000)]
    data = csv_bytes(rows, encoding="gb18030")
    started = time.perf_counter()
    response = upload(client, admin_headers, data, dry_run=False)
    took = time.perf_counter() - started
    assert response.status_code == 200, response.text[:500]
    assert response.json()["vehicles"]["create"] == 5000
    with capsys.disabled():
        print(f"\n5,000 rows imported in {took:.1f} s")


def test_during_an_outage_right_after_an_import_the_gates_know_the_cars(
    app_factory: Any, outage: Any
) -> None:
    """The offline snapshot is retaken at the loop's next wake (0.2 s here), not after
    offline_refresh_s (an hour here): an outage starting just after an import must not send
    every imported car to a guard."""
    from tests.api.test_database_outage import wait_for

    client = app_factory(database_url=outage.url,
                         access={"offline_refresh_s": 3600, "offline_retry_s": 0.2})
    services = client.app.state.services
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    saved = services.settings.data_dir / "journal" / "offline_snapshot.json"
    wait_for(saved.is_file, 10.0)  # taken at start, before the import
    assert "粤B67890" not in saved.read_text()

    assert upload(client, admin, csv_bytes(ROWS), dry_run=False).json()["applied"] is True
    wait_for(lambda: "粤B67890" in saved.read_text(), 10.0)

    outage.cut(services.engine)
    held = client.post("/api/v1/gates/main-in/typed-plate",
                       json={"plate": "粤B67890", "reason": "摄像头故障"}, headers=admin)
    outage.restore()
    assert held.status_code == 200, held.text
    assert held.json()["passage_id"] is None and held.json()["journal_id"]  # decided offline
    assert (held.json()["decision"], held.json()["reason"]) == ("allow", "resident")


def test_one_building_spelt_two_ways_or_repeated_in_the_unit_is_a_row_error_not_a_new_flat(
    client: Any, admin_headers: dict[str, str]
) -> None:
    # "3" among "3栋" rows, or 房号 "3栋1单元301" under 楼栋 "3栋", would each import as a flat
    # of their own: the family's cars split over two households, 车位数 counted twice.
    rows = ["3栋,1单元101,张伟,,,,", "3栋,1单元201,李娜,,,,", "3,1单元301,王芳,,,,",
            "3栋,3栋1单元401,赵六,,,,", "8号楼,101,孙七,,,,"]
    body = upload(client, admin_headers, csv_bytes(rows), dry_run=True).json()
    errors = {e["row"]: e["message"] for e in body["errors"]}
    assert set(errors) == {4, 5}
    assert "楼栋“3”和表里其他行写的是“3栋”：同一栋楼请写成一样" in errors[4]
    assert "房号“3栋1单元401”里又写了楼栋“3栋”：房号只写单元和房间（如 1单元401）" in errors[5]

    # Against the database: its spelling is the one kept, however the file mostly spells it.
    client.post("/api/v1/households", json={"building": "8栋", "unit": "102"},
                headers=admin_headers)
    body = upload(client, admin_headers, csv_bytes(rows[:2] + rows[4:]), dry_run=True).json()
    assert [(e["row"], "已登记的住户写的是“8栋”" in e["message"]) for e in body["errors"]] == [
        (4, True)]


def test_a_flat_already_on_file_with_an_odd_spelling_is_still_matched(
    client: Any, admin_headers: dict[str, str]
) -> None:
    for building, unit in (("3栋", "101"), ("3", "102"), ("5栋", "5栋201")):
        client.post("/api/v1/households", json={"building": building, "unit": unit},
                    headers=admin_headers)
    rows = ["3,102,张伟,,,,", "3栋,103,李娜,,,,", "5栋,5栋201,王芳,,,,"]
    body = upload(client, admin_headers, csv_bytes(rows), dry_run=True).json()
    assert body["errors"] == []
    assert body["households"] == tally(1, 2)


def test_a_plate_colour_without_a_plate_is_left_out_not_an_error(
    client: Any, admin_headers: dict[str, str]
) -> None:
    # Found by the onboarding walk: 蓝 filled down the colour column made 37 of 300 rows
    # errors ("填了车牌颜色但没有车牌") on rows of residents without a car, the bulk of an
    # office's first preview. The resident is imported; the colour alone means nothing.
    data = csv_bytes(["3栋,1201,张伟,13800138000,闽A12345,蓝,", "3栋,1201,李娜,,,蓝,",
                      "5栋,601,王芳,,,黄,"])
    preview = upload(client, admin_headers, data, dry_run=True).json()
    assert preview["errors"] == [] and preview["colour_without_plate"] == [3, 4]
    done = upload(client, admin_headers, data, dry_run=False)
    assert done.status_code == 200, done.text
    assert done.json()["residents"]["create"] == 3 and done.json()["vehicles"]["create"] == 1
    # A colour that is no colour is still a row error: the cell may hold a shifted plate.
    odd = upload(client, admin_headers, csv_bytes(["6栋,101,赵六,,,闽A54321,"]), dry_run=True)
    assert [e["row"] for e in odd.json()["errors"]] == [2]
@pytest.fixture(scope="module")
def staff(shared_client: Any) -> tuple[dict[str, str], dict[str, str]]:
    """An admin's and a guard's headers on the shared app, made once."""
    services = shared_client.app.state.services
    return add_staff(services, "admin", "admin"), add_staff(services, "guard", "guard")


class TestPreviewsAndRefusals:
    """Previews (``dry_run``, the default) and refused uploads write nothing: they share one app
    per database (tests/api/conftest.py ``shared_client``), its database empty of households,
    residents and cars, instead of building one for each case (0.5 s of CPU for one upload).
    That each left it empty is checked after each. Imports that write build their own app."""

    @pytest.fixture
    def client(self, fresh_shared_client: Any) -> Iterator[Any]:
        assert counts(fresh_shared_client)[:3] == (0, 0, 0), \
            "an earlier test of this class wrote (its teardown failed first)"
        yield fresh_shared_client
        assert counts(fresh_shared_client)[:3] == (0, 0, 0), "this preview or refusal wrote"

    @pytest.fixture
    def admin_headers(self, staff: tuple[dict[str, str], dict[str, str]]) -> dict[str, str]:
        return staff[0]

    @pytest.fixture
    def guard_headers(self, staff: tuple[dict[str, str], dict[str, str]]) -> dict[str, str]:
        return staff[1]

    def test_tab_separated_english_headers_are_read(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        data = csv_bytes(["A1\t101\tJoe\t\t沪A88888\tgreen\t"],
                         header="building\tunit\tname\tphone\tplate\tplate_color\tnote", sep="\t")
        body = upload(client, admin_headers, data, dry_run=True).json()
        assert (body["delimiter"], body["vehicles"]["create"], body["errors"]) == ("tab", 1, [])

    def test_a_name_cell_on_two_lines_is_a_row_error(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        """Alt+Enter in a spreadsheet cell: the name's two lines are one quoted cell."""
        rows = [ROWS[0], '5栋,601,"王\n芳",,粤B67890,黄,租户']
        body = upload(client, admin_headers, csv_bytes(rows), dry_run=True).json()
        assert [(e["row"], e["message"]) for e in body["errors"]] == [
            (3, "姓名：只能写一行，不能有换行或制表符")]

    def test_a_guard_is_refused_and_nothing_is_read(
        self, client: Any, guard_headers: dict[str, str]
    ) -> None:
        before = counts(client)
        response = upload(client, guard_headers, csv_bytes(ROWS), dry_run=False)
        assert response.status_code == 403
        assert client.post(URL, content=csv_bytes(ROWS)).status_code == 401
        assert counts(client)[:3] == before[:3]

    @pytest.mark.parametrize(
        ("data", "status", "said"),
        [
            (b"", 422, "the file is empty"),
            (b"\r\n,,,\r\n", 422, "the file is empty"),
            ("楼栋,房号,姓名\r\n".encode(), 422, "no data rows"),
            ("姓名,电话\r\n张伟,1380000\r\n".encode(), 422, "lacks the column(s) building, unit"),
            ("楼栋,房号,电话\r\n3栋,1,1\r\n".encode(), 422, "name or plate"),
            ("楼栋,房号,车牌,车牌\r\n3栋,1,闽A12345,\r\n".encode(), 422, "are both 'plate'"),
            (b"PK\x03\x04rest-of-a-zip", 415, "Excel workbook"),
            (b"\x89PNG\r\n\x1a\n\x00\x00\x00", 415, "not a text table"),
            ("楼栋,房号,姓名\r\n3栋,1,\x00张\r\n".encode(), 415, "not a text table"),
            ("楼栋,房号,姓名\r\n".encode() + b"3\xff\xfe\xfd\x80,1,x\r\n", 422,
             "neither UTF-8 nor GBK"),
            # The quote swallowed the rows after it into one name: 9栋 102 was never imported.
            ("楼栋,房号,姓名\r\n9栋,101,\"赵一\r\n9栋,102,钱二\r\n".encode(), 422,
             "row 2: a quote (\") opened in it is never closed"),
        ],
        ids=["empty", "blank", "header-only", "no-building", "no-name-or-plate", "twice",
             "xlsx", "png", "nul", "bad-bytes", "quote-left-open"],
    )
    def test_bad_files_are_4xx_with_a_message(
        self, client: Any, admin_headers: dict[str, str], data: bytes, status: int, said: str
    ) -> None:
        response = upload(client, admin_headers, data, dry_run=True)
        assert response.status_code == status, response.text
        assert said in response.json()["detail"]

    def test_too_large_and_too_many_rows_are_413(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        big = csv_bytes(["3栋,1,张伟,,,," + "x" * 1000] * (MAX_BYTES // 1000 + 10))
        response = upload(client, admin_headers, big, dry_run=True)
        assert response.status_code == 413 and f"limit of {MAX_BYTES}" in response.text
        raw = client.post(URL, content=big, headers={**admin_headers, "Content-Type": "text/csv"})
        assert raw.status_code == 413
        many = csv_bytes([f"1,{i},人{i},,,," for i in range(MAX_ROWS + 1)], header=HEADER)
        response = upload(client, admin_headers, many, dry_run=True)
        assert response.status_code == 413 and f"more than {MAX_ROWS} rows" in response.text

    def test_raw_body_and_wrong_content_type(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        raw = client.post(URL, params={"file_name": "a.csv"}, content=csv_bytes(ROWS),
                          headers={**admin_headers, "Content-Type": "text/csv; charset=gbk"})
        assert raw.status_code == 200 and raw.json()["file_name"] == "a.csv"
        wrong = client.post(URL, json={"rows": []}, headers=admin_headers)
        assert wrong.status_code == 415
        no_file = client.post(URL, data={"x": "1"}, files={"other": ("a", b"x")},
                              headers=admin_headers)
        assert no_file.status_code == 422 and "'file'" in no_file.json()["detail"]

    def test_the_template_is_importable_as_it_is(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        template = template_csv()
        assert template.startswith(b"\xef\xbb\xbf")
        body = upload(client, admin_headers, template, dry_run=True).json()
        assert (body["errors"], body["households"]["create"], body["residents"]["create"],
                body["vehicles"]["create"]) == ([], 1, 2, 1)

    def test_a_title_row_above_the_header_is_skipped_and_rows_keep_excels_numbers(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        # Offices put the community's name in a merged cell above the headers; Excel saves it as
        # "title,,,,,,". The rows keep the numbers Excel shows (the header is row 3 here).
        title = "阳光花园小区业主信息表" + "," * 6
        data = csv_bytes([",,,,,,", " 楼栋 ,房号 ,姓名,电话,车牌,车牌颜色,备注", *ROWS[:3],
                          "6栋,101,赵六,,沪X,,"], header=title, encoding="gbk")

        body = upload(client, admin_headers, data, dry_run=True).json()

        assert body["header_row"] == 3
        assert body["rows"] == 4
        assert [(e["row"], e["content"][:3]) for e in body["errors"]] == [(7, "6栋,")]
        assert body["households"]["create"] == 1 and body["vehicles"]["create"] == 2

    def test_a_title_row_without_a_header_below_it_is_still_refused_naming_the_columns(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        data = csv_bytes(ROWS, header="阳光花园小区业主信息表,,,,,,")
        response = upload(client, admin_headers, data, dry_run=True)
        # ROWS' first row holds no column names: the header is missing, as said of the title.
        assert response.status_code == 422
        assert "lacks the column(s) building, unit" in response.json()["detail"]

    @pytest.mark.parametrize("shown", ["1.38E+10", "1.38e+10", "1.38001E+10", "1E+10"])
    def test_a_phone_excel_shows_in_scientific_notation_is_a_row_error_saying_how_to_fix_it(
        self, client: Any, admin_headers: dict[str, str], shown: str
    ) -> None:
        # Excel saves what it shows: an 11-digit number in a narrow General column is "1.38E+10"
        # in the CSV, its last eight digits lost. Not a phone to store, and "格式不正确" alone
        # does not tell the office what happened.
        data = csv_bytes([f"3栋,1201,张伟,{shown},闽A12345,,"])
        body = upload(client, admin_headers, data, dry_run=True).json()
        [error] = body["errors"]
        assert error["row"] == 2
        assert f"电话“{shown}”是 Excel 的科学计数法" in error["message"]
        assert "设成「文本」" in error["message"] and "格式不正确" not in error["message"]

    def test_a_row_in_error_is_shown_without_the_empty_cells_excel_pads_it_with(
        self, client: Any, admin_headers: dict[str, str]
    ) -> None:
        data = csv_bytes(["3栋,1201,张伟,abc,,,,,,", "3栋,1202,,,沪X,, ,,,"],
                         header=HEADER + ",,,")
        body = upload(client, admin_headers, data, dry_run=True).json()
        assert [e["content"] for e in body["errors"]] == [
            "3栋, 1201, 张伟, abc", "3栋, 1202, , , 沪X"]


def test_a_landline_written_with_its_area_code_in_brackets_is_imported(
    client: Any, admin_headers: dict[str, str]
) -> None:
    # The guide allows digits, + - ( ) and spaces; an office writes (021) 6234 5678. Such a
    # number was a row error (电话：格式不正确), and with it nothing of the sheet was imported.
    rows = ["3栋,1201,张伟,(021) 6234 5678,闽A12345,蓝,", "5栋,601,王芳,(0571)88886666,,,"]
    done = upload(client, admin_headers, csv_bytes(rows), dry_run=False).json()
    assert (done["errors"], done["applied"]) == ([], True)
    phones = on_file(client)
    assert (phones["张伟"], phones["王芳"]) == ("(021) 6234 5678", "(0571)88886666")
    # Typed by hand on a resident's own form (the same schema) too.
    with client.app.state.services.sessions() as session:
        flat = session.scalar(select(Household.id).where(Household.building == "3栋"))
    created = client.post("/api/v1/residents", headers=admin_headers, json={
        "household_id": flat, "name": "李娜", "phone": "(021) 6234 5679"})
    assert created.status_code == 201, created.text


def test_a_phone_typed_in_full_width_is_the_same_number_in_half_width(
    client: Any, admin_headers: dict[str, str]
) -> None:
    # A sheet filled in with a Chinese input method has full-width digits and brackets; they
    # were a row error (电话：格式不正确) that stopped the whole import.
    rows = ["3栋,1201,张伟,１３８ ００１３ ８０００,,,",
            "5栋,601,王芳,（０２１）６２３４－５６７８,,,"]
    done = upload(client, admin_headers, csv_bytes(rows), dry_run=False).json()
    assert (done["errors"], done["applied"]) == ([], True)
    phones = on_file(client)
    assert (phones["张伟"], phones["王芳"]) == ("138 0013 8000", "(021)6234-5678")
    # The same sheet again is unchanged, not a change to the number's other spelling.
    again = upload(client, admin_headers, csv_bytes(rows), dry_run=True).json()
    assert (again["changes"], again["residents"]) == ([], tally(0, 2))
    # And typed so on the resident's own form.
    with client.app.state.services.sessions() as session:
        flat = session.scalar(select(Household.id).where(Household.building == "3栋"))
    created = client.post("/api/v1/residents", headers=admin_headers, json={
        "household_id": flat, "name": "李娜", "phone": "１３９００１３９０００"})
    assert (created.status_code, created.json()["phone"]) == (201, "13900139000")
