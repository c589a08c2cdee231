"""搬离 and the configured spaces of the flat (``assigned_to: household:N`` / ``resident:N``).

The move-out cannot change the configuration, and the flat's ids are never handed out again,
so its spaces are left naming an owner no longer on file. The dry run, the result and the
console page name them with the line to change; such a space stays reserved (guidance never
sends another driver there) and the start-up log names it once.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from controllers.spaces import SpaceKind, SpaceRecord
from models.db import transaction
from models.people import Household
from services.assigned_spaces import owners_gone
from services.parking_config import ParkingConfig
from tests.api.test_console import cookie_login
from tests.api.test_console_household_move_out import EXPECTED, cells, page
from tests.api.test_household_move_out_one_step import confirm, dry_run, move_in, ok, staff
from tests.api.test_parking import sensor
from tests.conftest import services_of, wait_until
from tests.db_outage import DatabaseOutage

# The family of move_in is the first household on an empty database, 张伟 its first resident,
# the neighbours (5栋 101) the second household.
HOME, ZHANG, NEIGHBOURS = 1, 1, 2
INLINE = [
    {"id": "A-201", "label": "地面 201", "zone": "A", "kind": "assigned",
     "assigned_to": f"household:{HOME}", "distances_m": {"3": 5}},
    {"id": "A-203", "zone": "A", "kind": "assigned", "assigned_to": f"household:{NEIGHBOURS}",
     "distances_m": {"3": 6}},
    {"id": "A-204", "zone": "A", "kind": "standard", "distances_m": {"3": 80}},
]


def parking(tmp_path: Path) -> dict[str, Any]:
    csv_path = tmp_path / "spaces.csv"
    csv_path.write_text("id,label,zone,kind,assigned_to,dist_3\n"
                        f"B-202,,B,assigned,resident:{ZHANG},10\n", encoding="utf-8")
    return {"spaces": INLINE, "spaces_csv": str(csv_path), "sensors": {"simulate": False}}


def flat_spaces(answer: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(s["space_id"], s["zone"], s["assigned_to"], s["configured_in"])
            for s in answer["assigned_spaces"]]


def test_the_dry_run_and_the_result_name_the_flats_spaces(
    app_factory: Any, tmp_path: Path
) -> None:
    client = app_factory(parking=parking(tmp_path))
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    assert (family.household, family.zhang, family.neighbour) == (HOME, ZHANG, NEIGHBOURS)
    csv_in = f"parking.spaces_csv ({tmp_path / 'spaces.csv'})"
    theirs = [("A-201", "A", "household:1", "parking.spaces"),
              ("B-202", "B", "resident:1", csv_in)]  # not the neighbours' A-203

    shown = ok(dry_run(client, admin, HOME), 200).json()
    assert flat_spaces(shown) == theirs
    # B-202 has no label: null, as the availability API says it (not "")
    assert [s["label"] for s in shown["assigned_spaces"]] == ["地面 201", None]
    todo = shown["assigned_spaces"][0]["todo"]
    assert "change `assigned_to: household:1` to `household:<its new id>` in parking.spaces" \
        in todo and "restart" in todo
    done = ok(confirm(client, admin, HOME, shown["expected"]), 200).json()
    assert flat_spaces(done) == theirs


def test_a_flat_without_configured_spaces_lists_none(client: Any) -> None:
    admin, guard = staff(client)
    family = move_in(client, admin, guard)
    assert ok(dry_run(client, admin, family.household), 200).json()["assigned_spaces"] == []


def test_the_console_names_the_spaces_before_and_after(
    app_factory: Any, tmp_path: Path
) -> None:
    client = app_factory(parking=parking(tmp_path))
    admin, guard = staff(client)
    move_in(client, admin, guard)
    csrf = cookie_login(client, "admin", "admin")
    csv_in = f"parking.spaces_csv ({tmp_path / 'spaces.csv'})"
    rows = ["A-201 (地面 201)", "A", "assigned_to: household:1", "parking.spaces",
            "B-202", "B", "assigned_to: resident:1", csv_in]

    shown = page(client, HOME)
    assert cells(shown.text, "move-out-spaces") == rows
    assert "把下面每个车位的 assigned_to 改成新住户的编号" in shown.text
    expected = EXPECTED.search(shown.text)
    assert expected is not None
    done = client.post(f"/console/admin/households/{HOME}/move-out",
                       data={"csrf_token": csrf, "expected": expected[1]})
    assert done.status_code == 200 and 'id="move-out-done"' in done.text
    assert cells(done.text, "move-out-spaces") == rows
    # The neighbours' page names theirs only.
    assert cells(page(client, NEIGHBOURS).text, "move-out-spaces") == [
        "A-203", "A", "assigned_to: household:2", "parking.spaces"]


def test_a_space_whose_household_is_gone_stays_reserved_and_start_up_names_it_once(
    app_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = parking(tmp_path)
    client = app_factory(parking=settings)
    admin, guard = staff(client)
    move_in(client, admin, guard)
    ok(confirm(client, admin, HOME, dry_run(client, admin, HOME).json()["expected"]), 200)
    client.__exit__(None, None, None)  # stopped: the next start takes its database
    caplog.clear()  # the first start named all three: nobody was on file yet

    with caplog.at_level(logging.WARNING, logger="services.parking"):
        client = app_factory(parking=settings)

        def named() -> list[str]:
            return [r.getMessage() for r in caplog.records if "no longer on file" in
                    r.getMessage()]

        wait_until(lambda: bool(named()), 10.0, "the start-up warning")
    [line] = named()
    assert "2 assigned space(s)" in line
    assert "A-201 (zone A, household:1, in parking.spaces)" in line
    assert "B-202 (zone B, resident:1" in line and "A-203" not in line

    # Free and nearest, but someone's: nobody else is sent there, and nothing fails.
    for space in ("A-201", "A-203", "A-204"):
        assert sensor(client, space, False) == "accepted"
    sensor(client, "B-202", False)
    guided = client.get("/api/v1/guidance", params={"building": "3"})
    assert guided.status_code == 200, guided.text
    assert guided.json()["space"]["id"] == "A-204"
    assert "A-201" not in guided.json()["alternatives"]
    public = client.get("/api/v1/availability/spaces")
    assert public.status_code == 200 and [s["id"] for s in public.json()["spaces"]] == ["A-204"]
    assert client.get("/api/v1/availability").status_code == 200


def test_owners_gone_reads_which_ids_are_on_file(sessions: Any) -> None:
    with transaction(sessions) as session:
        session.add(Household(building="3栋", unit="1201"))
    with sessions() as session:
        here = session.query(Household.id).scalar()

    def space(sid: str, owner: str | None) -> SpaceRecord:
        return SpaceRecord(id=sid, zone="A", kind=SpaceKind.ASSIGNED, assigned_to=owner)

    records = [space("S1", f"household:{here}"), space("S2", "household:9999"),
               space("S3", "resident:77"), space("S4", "household:99999999999"),
               space("S5", "the caretaker"), space("S6", None)]
    with sessions() as session:
        gone = owners_gone(session, records, ParkingConfig())
    # An id past what the database stores names no one either (no DataError on PostgreSQL);
    # a value of another shape never matched anyone and is not this check's business.
    assert [(s.space_id, s.assigned_to) for s in gone] == [
        ("S2", "household:9999"), ("S3", "resident:77"), ("S4", "household:99999999999")]
    assert gone[0].configured_in == "parking.spaces"


def test_started_during_an_outage_it_names_them_once_the_database_answers(
    app_factory: Any, outage: DatabaseOutage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = {**parking(tmp_path), "overstay_check_s": 0.2}
    first = app_factory(database_url=outage.url, parking=settings)
    outage.cut(services_of(first).engine)
    first.__exit__(None, None, None)
    services_of(first).engine.dispose()
    caplog.clear()

    with caplog.at_level(logging.WARNING, logger="services.parking"):
        app_factory(database_url=outage.url, parking=settings)  # nobody on file: all three

        def named() -> list[str]:
            return [r.getMessage() for r in caplog.records if "no longer on file" in
                    r.getMessage()]

        time.sleep(0.6)  # a few of its tries meet the outage
        assert named() == []
        outage.restore()
        wait_until(lambda: bool(named()), 10.0, "the warning once the database answers")
        time.sleep(0.5)  # and no second one
    [line] = named()
    assert "3 assigned space(s)" in line and "A-203 (zone A, household:2" in line
