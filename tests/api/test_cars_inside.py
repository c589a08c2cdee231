"""场内车辆 through the API: GET /api/v1/presence lists the cars recorded inside with their
filters, for staff only; POST /api/v1/presence/{plate}/left (标记已离场) takes one out as an
exit would, audited, and refuses a stale request (409) or one without a reason (422)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from models.db import transaction
from models.site import Zone
from models.vehicles import Presence
from tests.api.test_console import cookie_login
from tests.api.test_household_move_out_one_step import created, staff, typed
from tests.conftest import services_of
from tests.db_outage import DatabaseOutage


@dataclass(frozen=True)
class Inside:
    admin: dict[str, str]
    guard: dict[str, str]
    household: int
    visitor_pass: int


def park(client: Any) -> Inside:
    """Three cars inside zone A: 3栋 1201's own 闽A12345 (in 30 h ago), its visitor 粤B88888
    (in 10 h ago) and the allow-listed 京A11111 (just now)."""
    admin, guard = staff(client)
    now = datetime.now(UTC)
    home = created(client.post("/api/v1/households", headers=admin,
                               json={"building": "3栋", "unit": "1201", "spaces": 2}))
    created(client.post("/api/v1/vehicles", headers=admin,
                        json={"plate": "闽A12345", "household_id": home}))
    visitor_pass = created(client.post("/api/v1/passes", headers=admin, json={
        "plate": "粤B88888", "host_household_id": home,
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_to": (now + timedelta(days=1)).isoformat()}))
    created(client.post("/api/v1/lists", headers=admin, json={
        "plate": "京A11111", "kind": "allow", "reason": "消防检查车"}))
    for plate in ("闽A12345", "粤B88888", "京A11111"):
        assert typed(client, guard, "main-in", plate)["decision"] == "allow"
    entered(client, "闽A12345", hours_ago=30)
    entered(client, "粤B88888", hours_ago=10)
    return Inside(admin, guard, home, visitor_pass)


def entered(client: Any, plate: str, *, hours_ago: float) -> None:
    with transaction(services_of(client).sessions) as session:
        session.execute(update(Presence).where(Presence.plate == plate).values(
            entered_at=datetime.now(UTC) - timedelta(hours=hours_ago)))


def listed(client: Any, headers: dict[str, str], **params: Any) -> list[str]:
    answer = client.get("/api/v1/presence", headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return [car["plate"] for car in answer.json()["items"]]


def occupied(client: Any, zone: str = "A") -> int:
    with services_of(client).sessions() as session:
        found = session.get(Zone, zone)
        assert found is not None
        return found.occupied


def inside(client: Any) -> dict[str, int | None]:
    with services_of(client).sessions() as session:
        return {p.plate: p.passage_id for p in session.scalars(select(Presence))}


def left(client: Any, headers: dict[str, str], plate: str, **body: Any) -> Any:
    return client.post(f"/api/v1/presence/{plate}/left", headers=headers, json=body)


def test_the_list_says_who_is_inside_longest_first(client: Any) -> None:
    cars = park(client)

    answer = client.get("/api/v1/presence", headers=cars.guard)

    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    first, second, third = page["items"]
    assert [first["plate"], second["plate"], third["plate"]] == ["闽A12345", "粤B88888", "京A11111"]
    assert first | {"entered_at": None, "inside_for_s": None, "passage_id": None} == {
        "plate": "闽A12345", "zone_id": "A", "zone_name": "A区地面", "kind": "resident",
        "household_id": cars.household, "household": "3栋 1201", "pass_id": None,
        "entered_at": None, "inside_for_s": None, "passage_id": None}
    assert 30 * 3600 - 60 < first["inside_for_s"] < 30 * 3600 + 60
    assert isinstance(first["passage_id"], int)
    assert (second["kind"], second["pass_id"], second["household"]) == (
        "visitor", cars.visitor_pass, "3栋 1201")
    assert (third["kind"], third["household"], third["pass_id"]) == ("other", None, None)


def test_the_filters(client: Any) -> None:
    cars = park(client)
    guard = cars.guard
    assert listed(client, guard, kind="resident") == ["闽A12345"]
    assert listed(client, guard, kind="visitor") == ["粤B88888"]
    assert listed(client, guard, kind="other") == ["京A11111"]
    # Part of a plate, lower case and full width, as passage search folds it.
    assert listed(client, guard, plate="a123") == ["闽A12345"]
    assert listed(client, guard, plate="８８８") == ["粤B88888"]
    assert listed(client, guard, inside_for_h=8) == ["闽A12345", "粤B88888"]
    assert listed(client, guard, inside_for_h=24, kind="visitor") == []
    assert listed(client, guard, zone="A", limit=1, offset=1) == ["粤B88888"]
    assert listed(client, guard, zone="B") == []
    for bad in ({"zone": "Z"}, {"kind": "staff"}, {"inside_for_h": -1},
                {"inside_for_h": "nan"}, {"limit": 0}, {"offset": -1}):
        answer = client.get("/api/v1/presence", headers=guard, params=bad)
        assert answer.status_code == 422, (bad, answer.text)
        assert answer.json()["detail"], bad


def test_only_staff_see_it(client: Any) -> None:
    cars = park(client)
    assert client.get("/api/v1/presence").status_code == 401
    camera = {"X-API-Key": "test-camera-key"}
    assert client.get("/api/v1/presence", headers=camera).status_code in (401, 403)
    assert left(client, camera, "闽A12345", reason="尾随出场").status_code in (401, 403)
    assert listed(client, cars.admin) == ["闽A12345", "粤B88888", "京A11111"]
    assert "闽A12345" in inside(client)


def test_mark_left_takes_the_car_out_as_an_exit_and_audits_it(client: Any) -> None:
    cars = park(client)
    services = services_of(client)
    told: list[bool] = []
    real = services.access_changed

    def access_changed() -> None:  # the offline snapshot, retaken at once
        told.append(True)
        real()

    services.access_changed = access_changed  # type: ignore[method-assign]
    assert occupied(client) == 3
    entry = inside(client)["粤B88888"]

    done = left(client, cars.guard, "粤b88888", reason="尾随前车出场：出口未识别",
                passage_id=entry)

    assert done.status_code == 200, done.text
    assert done.json() | {"audit_id": 0} == {
        "plate": "粤B88888", "zone_id": "A", "zone_moved": -1, "passage_id": entry,
        "audit_id": 0}
    assert "粤B88888" not in inside(client) and occupied(client) == 2 and told == [True]
    audit = client.get("/api/v1/audit", headers=cars.admin,
                       params={"action": "presence.left"}).json()["items"]
    assert [(a["username"], a["reason"], a["target"], a["passage_id"]) for a in audit] == [
        ("guard1", "尾随前车出场：出口未识别", "plate:粤B88888", entry)]
    assert audit[0]["details"] | {"entered_at": None} == {
        "plate": "粤B88888", "zone": "A", "zone_moved": -1, "entered_at": None,
        "household_id": cars.household, "pass_id": cars.visitor_pass}
    # The pass is as an exit leaves it: its one use counted at the entry, nothing more.
    shown = client.get(f"/api/v1/passes/{cars.visitor_pass}", headers=cars.admin).json()
    assert shown["uses"] == 1
    # Without a passage id it takes whichever entry is recorded (an integrator's call).
    assert left(client, cars.admin, "闽A12345", reason="车主来电确认已离开").status_code == 200
    assert occupied(client) == 1 and listed(client, cars.guard) == ["京A11111"]


def test_a_count_at_zero_stays_at_zero(client: Any) -> None:
    cars = park(client)
    with transaction(services_of(client).sessions) as session:
        session.execute(update(Zone).where(Zone.id == "A").values(occupied=0))
    done = left(client, cars.guard, "京A11111", reason="巡查确认不在场")
    assert done.status_code == 200, done.text
    assert done.json()["zone_moved"] == 0 and occupied(client) == 0
    alarms = client.get("/api/v1/alarms", headers=cars.admin).json()
    items = alarms["items"] if isinstance(alarms, dict) else alarms
    assert [a["kind"] for a in items] == ["occupancy_below_zero"]


def test_a_stale_mark_left_is_409_and_changes_nothing(client: Any) -> None:
    cars = park(client)
    entry = inside(client)["闽A12345"]
    assert entry is not None
    # It came in again meanwhile (its exit was read, then a new entry): another passage.
    refused = left(client, cars.guard, "闽A12345", reason="尾随出场", passage_id=entry + 100)
    assert refused.status_code == 409, refused.text
    assert "no longer recorded inside" in refused.json()["detail"]
    assert inside(client)["闽A12345"] == entry and occupied(client) == 3
    # It left: presence gone.
    assert typed(client, cars.guard, "main-out", "闽A12345")["decision"] == "allow"
    gone = left(client, cars.guard, "闽A12345", reason="尾随出场", passage_id=entry)
    assert gone.status_code == 409 and occupied(client) == 2
    assert client.get("/api/v1/audit", headers=cars.admin,
                      params={"action": "presence.left"}).json()["items"] == []


def test_a_reason_is_required(client: Any) -> None:
    cars = park(client)
    for body in ({}, {"reason": ""}, {"reason": " a "}, {"reason": "好的", "passage_id": 0},
                 {"reason": "尾随出场", "extra": 1}):
        answer = left(client, cars.guard, "闽A12345", **body)
        assert answer.status_code == 422, (body, answer.text)
    assert "闽A12345" in inside(client) and occupied(client) == 3


def test_after_mark_left_hard_anti_passback_lets_the_car_in(
    app_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same plate typed again at once would be the same passage (a double click).
    monkeypatch.setattr("controllers.runtime.TYPED_REPEAT_WINDOW", timedelta(0))
    client = app_factory(access={"anti_passback": "hard"})
    cars = park(client)
    again = typed(client, cars.guard, "main-in", "闽A12345")
    assert again["decision"] != "allow"  # recorded inside: refused as a second entry

    assert left(client, cars.guard, "闽A12345", reason="尾随前车出场").status_code == 200

    back = typed(client, cars.guard, "main-in", "闽A12345")
    assert back["decision"] == "allow" and "anti_passback" not in back.get("flags", [])
    assert occupied(client) == 3


def test_database_down_is_503(app_factory: Any, outage: DatabaseOutage) -> None:
    client = app_factory(database_url=outage.url)
    cars = park(client)
    csrf = cookie_login(client, "guard1", "guard")
    outage.cut(services_of(client).engine)

    assert client.get("/api/v1/presence", headers=cars.guard).status_code == 503
    refused = left(client, cars.guard, "闽A12345", reason="尾随出场")
    assert refused.status_code == 503, refused.text
    assert client.get("/console/presence").status_code == 503
    form = client.post("/console/presence/left", data={
        "csrf_token": csrf, "plate": "闽A12345", "preset": "巡查确认车辆不在场"})
    assert form.status_code == 503


def test_a_path_that_is_no_plate_is_422(client: Any) -> None:
    """Blank, or with a control character: no car can be recorded inside under it, and a
    409 said it had left or come in again meanwhile."""
    cars = park(client)
    for path in ("%20", "%20%20", "%E9%97%BDA12345%00", "%09", "a%0Ab"):
        answer = client.post(f"/api/v1/presence/{path}/left", headers=cars.guard,
                             json={"reason": "尾随出场"})
        assert answer.status_code == 422, (path, answer.text)
        assert "is not a plate" in answer.json()["detail"], path
    # Spaces, lower case and full width fold to the plate; text that is not one is still
    # answered as a car not inside.
    assert left(client, cars.guard, "闽a 12345", reason="尾随出场").status_code == 200
    assert left(client, cars.guard, "ABC", reason="尾随出场").status_code == 409
    assert occupied(client) == 2


def test_the_api_page_names_both_operations(client: Any) -> None:
    """/docs lists the mark-left by what it does (it read "Mark Car Left", the function's
    name), as the list beside it."""
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/api/v1/presence"]["get"]["summary"] == "Cars recorded inside, longest first"
    assert paths["/api/v1/presence/{plate}/left"]["post"]["summary"].startswith("标记已离场: ")
