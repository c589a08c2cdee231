"""A guard's open of a passage whose barrier failed counts the car again, once.

When an allowed car's barrier does not open, its admission is taken back (presence, zone
count, visitor pass use) and the passage flagged ``admission_undone``. The guard then opens
that gate by hand, naming the passage, and the car goes in: before, nothing counted it, so
occupancy, anti-passback and guidance were wrong for as long as it stayed. Through the real
app, with the simulated barrier failing once (its relay unreachable, then back).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hardware.simulated import SimFault
from models.vehicles import Presence
from tests.api.test_console import add_staff
from tests.api.test_vehicle_entry import push, register_resident_car
from tests.conftest import LabelledPhoto

UNDONE = "admission_undone"


@pytest.fixture
def staff(client: Any) -> tuple[dict[str, str], dict[str, str]]:
    services = client.app.state.services
    return add_staff(services, "admin", "admin"), add_staff(services, "guard", "guard")


def visitor_pass(client: Any, admin: dict[str, str], plate: str) -> int:
    """A one-use pass: a second use would show as a used-up pass."""
    household = client.post(
        "/api/v1/households", json={"building": "5栋", "unit": "302"}, headers=admin
    ).json()["id"]
    now = datetime.now(UTC)
    created = client.post("/api/v1/passes", headers=admin, json={
        "plate": plate, "host_household_id": household, "max_uses": 1,
        "valid_from": (now - timedelta(minutes=5)).isoformat(),
        "valid_to": (now + timedelta(hours=2)).isoformat(),
    })
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def failed_entry(client: Any, photo: LabelledPhoto) -> int:
    """The car is allowed, its barrier fails once; returns its passage."""
    barrier = client.app.state.services.barriers["main-in"]
    barrier.inject_fault(SimFault.OFFLINE)
    body = push(client, "main-in", photo).json()
    barrier.clear_faults()
    assert (body["decision"], body["barrier"]) == ("allow", "fault"), body
    return int(body["passage_id"])


def guard_opens(client: Any, guard: dict[str, str], gate: str, passage_id: int) -> Any:
    return client.post(f"/api/v1/gates/{gate}/actions", headers=guard, json={
        "action": "open", "reason": "道闸故障，人工放行", "passage_id": passage_id,
    })


def counts(client: Any, admin: dict[str, str], pass_id: int, plate: str
           ) -> tuple[int, int, int | None]:
    """(cars counted in zone A, the pass's uses, the passage the car is recorded inside by)."""
    zones = client.get("/api/v1/availability").json()["zones"]
    occupied = next(z["capacity"] - z["free"] for z in zones if z["id"] == "A")
    uses = client.get(f"/api/v1/passes/{pass_id}", headers=admin).json()["uses"]
    with client.app.state.services.sessions() as session:
        inside = session.scalar(select(Presence.passage_id).where(Presence.plate == plate))
    return occupied, uses, inside


def passage(client: Any, admin: dict[str, str], passage_id: int) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/passages/{passage_id}", headers=admin).json())


def gate_open_audits(client: Any, admin: dict[str, str]) -> list[dict[str, Any]]:
    rows = client.get("/api/v1/audit", params={"action": "gate.open"}, headers=admin).json()
    return list(reversed(rows["items"]))  # oldest first


def test_the_guards_open_naming_the_passage_counts_the_car_once(
    client: Any, staff: tuple[dict[str, str], dict[str, str]],
    readable_photos: list[LabelledPhoto],
) -> None:
    admin, guard = staff
    photo = readable_photos[1]
    pass_id = visitor_pass(client, admin, photo.plate)
    passage_id = failed_entry(client, photo)
    assert UNDONE in passage(client, admin, passage_id)["flags"]
    assert counts(client, admin, pass_id, photo.plate) == (0, 0, None)

    opened = guard_opens(client, guard, "main-in", passage_id)
    assert opened.status_code == 200, opened.text
    assert opened.json()["admission"] == "redone"
    assert opened.json()["state"] in ("opening", "open")
    # Inside by that passage, counted in the zone, the pass's one use spent: exactly once.
    assert counts(client, admin, pass_id, photo.plate) == (1, 1, passage_id)
    row = passage(client, admin, passage_id)
    assert UNDONE not in row["flags"] and row["barrier_outcome"] in ("opening", "open")

    again = guard_opens(client, guard, "main-in", passage_id)
    assert again.status_code == 200, again.text
    assert again.json()["admission"] is None
    assert counts(client, admin, pass_id, photo.plate) == (1, 1, passage_id)

    # The audit log says which open counted the car, and links both to the passage.
    first, second = gate_open_audits(client, admin)
    assert first["passage_id"] == second["passage_id"] == passage_id
    assert first["details"]["admission"] == "redone"
    assert "admission" not in second["details"]
    # The car is known to be inside: it leaves as a car that came in, and the count follows.
    out = push(client, "main-out", photo).json()
    assert (out["decision"], out["reason"]) == ("allow", "exit_known_inside")
    assert counts(client, admin, pass_id, photo.plate)[0] == 0


def test_an_open_naming_another_gates_or_an_uncounted_passage_changes_nothing(
    client: Any, staff: tuple[dict[str, str], dict[str, str]],
    readable_photos: list[LabelledPhoto],
) -> None:
    admin, guard = staff
    photo = readable_photos[1]
    pass_id = visitor_pass(client, admin, photo.plate)
    passage_id = failed_entry(client, photo)

    # The passage was at main-in: main-out's barrier did not let that car in.
    refused = guard_opens(client, guard, "main-out", passage_id)
    assert 400 <= refused.status_code < 500, refused.text
    assert "main-in" in refused.json()["detail"]
    assert counts(client, admin, pass_id, photo.plate) == (0, 0, None)
    assert UNDONE in passage(client, admin, passage_id)["flags"]

    # The car tried again and its barrier opened: counted by that passage. An open naming
    # the failed one afterwards does not count it a second time.
    retry = push(client, "main-in", photo).json()
    assert (retry["decision"], retry["barrier"]) == ("allow", "opening"), retry
    assert counts(client, admin, pass_id, photo.plate) == (1, 1, retry["passage_id"])
    late = guard_opens(client, guard, "main-in", passage_id)
    assert late.status_code == 200, late.text
    assert late.json()["admission"] is None
    assert counts(client, admin, pass_id, photo.plate) == (1, 1, retry["passage_id"])
    assert UNDONE in passage(client, admin, passage_id)["flags"]  # still not counted by it

    # A passage whose barrier opened by itself has nothing to give back either.
    good = guard_opens(client, guard, "main-in", retry["passage_id"])
    assert good.status_code == 200 and good.json()["admission"] is None
    assert counts(client, admin, pass_id, photo.plate) == (1, 1, retry["passage_id"])


def test_an_exit_counted_on_a_retry_is_not_counted_again_by_the_guards_open(
    client: Any, staff: tuple[dict[str, str], dict[str, str]],
    readable_photos: list[LabelledPhoto],
) -> None:
    """A car never recorded inside (the zone's count set by hand after a physical check holds
    it) fails to get out, gets out on its next try, and then the guard presses 人工开闸放行 on
    the failed passage: the count went down twice for one car."""
    admin, guard = staff
    photo = readable_photos[2]
    register_resident_car(client, admin, photo.plate)
    fixed = client.put("/api/v1/zones/A/occupancy", headers=admin,
                       json={"occupied": 5, "reason": "巡查清点"})
    assert fixed.status_code == 200, fixed.text
    barrier = client.app.state.services.barriers["main-out"]
    barrier.inject_fault(SimFault.OFFLINE)
    failed = push(client, "main-out", photo).json()
    barrier.clear_faults()
    assert (failed["decision"], failed["barrier"]) == ("allow", "fault"), failed
    occupied = lambda: next(  # noqa: E731
        z["capacity"] - z["free"] for z in client.get("/api/v1/availability").json()["zones"]
        if z["id"] == "A"
    )
    assert occupied() == 5  # the failed exit's count-down was taken back
    retry = push(client, "main-out", photo).json()
    assert retry["decision"] == "allow" and retry["barrier"] in ("opening", "open"), retry
    assert occupied() == 4

    opened = guard_opens(client, guard, "main-out", int(failed["passage_id"]))
    assert opened.status_code == 200, opened.text
    assert opened.json()["admission"] is None
    assert occupied() == 4  # one car, one count-down
