"""The vehicle-entry spine end to end (issue 2), with real photos, a real database and the
simulated barrier driver."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import LabelledPhoto

CAMERA = {"X-API-Key": "test-camera-key"}


def register_resident_car(client: Any, headers: dict[str, str], plate: str) -> int:
    household = client.post(
        "/api/v1/households", json={"building": "3栋", "unit": "1201"}, headers=headers
    )
    assert household.status_code == 201, household.text
    hid = household.json()["id"]
    resident = client.post(
        "/api/v1/residents", json={"household_id": hid, "name": "林阿姨"}, headers=headers
    )
    assert resident.status_code == 201, resident.text
    vehicle = client.post(
        "/api/v1/vehicles",
        json={"plate": plate, "household_id": hid, "resident_id": resident.json()["id"]},
        headers=headers,
    )
    assert vehicle.status_code == 201, vehicle.text
    return int(hid)


def push(client: Any, gate: str, photo: LabelledPhoto) -> Any:
    return client.post(
        f"/api/v1/gates/{gate}/frames",
        content=photo.path.read_bytes(),
        headers={**CAMERA, "Content-Type": "image/jpeg"},
    )


def free_in_zone(client: Any, zone: str) -> int:
    body = client.get("/api/v1/availability").json()
    return next(z["free"] for z in body["zones"] if z["id"] == zone)


def test_resident_car_enters_and_is_recorded(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[0]
    register_resident_car(client, admin_headers, photo.plate)
    free_before = free_in_zone(client, "A")

    response = push(client, "main-in", photo)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["plate"] == photo.plate
    assert body["decision"] == "allow" and body["reason"] == "resident"
    assert body["barrier"] in ("opening", "open")
    barrier = client.app.state.services.barriers["main-in"]
    assert str(barrier.state) in ("opening", "open")
    assert free_in_zone(client, "A") == free_before - 1

    passages = client.get("/api/v1/passages", headers=admin_headers).json()
    assert passages["total"] == 1
    listed = passages["items"][0]
    assert listed["id"] == body["passage_id"] and listed["plate"] == photo.plate
    assert listed["barrier_outcome"] in ("opening", "open")
    snapshot = client.get(f"/api/v1/passages/{body['passage_id']}/snapshot", headers=admin_headers)
    assert snapshot.status_code == 200
    assert snapshot.headers["content-type"] == "image/jpeg"
    assert snapshot.content == photo.path.read_bytes()


def test_passage_and_count_survive_a_restart(
    app_factory: Any, readable_photos: list[LabelledPhoto]
) -> None:
    from tests.conftest import add_user

    photo = readable_photos[0]
    first = app_factory()
    headers = {"Authorization": f"Bearer {add_user(first, 'admin', 'admin')}"}
    register_resident_car(first, headers, photo.plate)
    passage_id = push(first, "main-in", photo).json()["passage_id"]
    free_after_entry = free_in_zone(first, "A")
    first.__exit__(None, None, None)

    second = app_factory()  # same data_dir and database: a restarted process
    token = second.post(
        "/api/v1/auth/token", data={"username": "admin", "password": "correct-horse"}
    ).json()["access_token"]
    again = {"Authorization": f"Bearer {token}"}
    assert second.get(f"/api/v1/passages/{passage_id}", headers=again).json()["plate"] == (
        photo.plate
    )
    assert second.get(f"/api/v1/passages/{passage_id}/snapshot", headers=again).status_code == 200
    assert free_in_zone(second, "A") == free_after_entry


def test_unregistered_car_goes_to_review_and_barrier_stays_shut(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    free_before = free_in_zone(client, "A")
    body = push(client, "main-in", readable_photos[1]).json()
    assert body["decision"] == "review" and body["reason"] == "unknown_plate"
    assert body["barrier"] == "closed"
    assert str(client.app.state.services.barriers["main-in"].state) == "closed"
    assert free_in_zone(client, "A") == free_before


def test_blocked_plate_is_denied_with_an_alarm(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[2]
    listed = client.post(
        "/api/v1/lists",
        json={"plate": photo.plate, "kind": "block", "reason": "欠费"},
        headers=admin_headers,
    )
    assert listed.status_code == 201, listed.text
    body = push(client, "main-in", photo).json()
    assert body["decision"] == "deny" and body["reason"] == "blocked"
    services = client.app.state.services
    from sqlalchemy import select

    from models.events import Alarm

    with services.sessions() as session:
        kinds = [a.kind for a in session.scalars(select(Alarm))]
    assert kinds == ["blocked_plate"]


def test_a_blocked_car_trying_again_does_not_pile_up_alarms(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    from sqlalchemy import func, select

    from models.events import Alarm, Passage

    photo = readable_photos[2]
    client.post("/api/v1/lists", json={"plate": photo.plate, "kind": "block", "reason": "欠费"},
                headers=admin_headers)
    sessions = client.app.state.services.sessions

    def count(model: Any) -> int:
        with sessions() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    for _ in range(3):
        assert push(client, "main-in", photo).json()["reason"] == "blocked"
    # Every attempt is on record; the guard has one alarm to deal with.
    assert (count(Passage), count(Alarm)) == (3, 1)
    with sessions() as session:
        alarm_id = session.scalars(select(Alarm.id)).one()
    ack = client.post(f"/api/v1/alarms/{alarm_id}/ack", headers=admin_headers)
    assert ack.status_code == 200, ack.text
    # Once acknowledged, the car coming back is news again.
    push(client, "main-in", photo)
    assert count(Alarm) == 2


def test_visitor_pass_admits_within_its_window_and_counts_uses(
    client: Any, admin_headers: dict[str, str], readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[1]
    hid = client.post(
        "/api/v1/households", json={"building": "5栋", "unit": "302"}, headers=admin_headers
    ).json()["id"]
    now = datetime.now(UTC)
    created = client.post(
        "/api/v1/passes",
        json={
            "plate": photo.plate,
            "host_household_id": hid,
            "valid_from": (now - timedelta(minutes=5)).isoformat(),
            "valid_to": (now + timedelta(hours=2)).isoformat(),
            "max_uses": 1,
        },
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    body = push(client, "main-in", photo).json()
    assert (body["decision"], body["reason"]) == ("allow", "visitor_pass")
    pass_after = client.get(f"/api/v1/passes/{created.json()['id']}", headers=admin_headers)
    assert pass_after.json()["uses"] == 1

    # Leaving through the exit frees the space again.
    free_inside = free_in_zone(client, "A")
    out = push(client, "main-out", photo).json()
    assert (out["decision"], out["reason"]) == ("allow", "exit_known_inside")
    assert free_in_zone(client, "A") == free_inside + 1
    # The one use is spent: a second entry goes to the guard.
    again = push(client, "main-in", photo).json()
    assert (again["decision"], again["reason"]) == ("review", "pass_used_up")


def test_barrier_closes_by_itself_after_the_car_passed(
    app_factory: Any, readable_photos: list[LabelledPhoto]
) -> None:
    from tests.conftest import add_user

    client = app_factory()
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, headers, readable_photos[0].plate)
    barrier = client.app.state.services.barriers["main-in"]
    barrier_config = client.app.state.services.settings.community.gates[0].barrier
    push(client, "main-in", readable_photos[0])
    deadline = time.monotonic() + barrier_config.open_seconds + 3 * barrier_config.opening_s + 2
    states = set()
    while time.monotonic() < deadline and str(barrier.state) != "closed":
        states.add(str(barrier.state))
        time.sleep(0.1)
    assert "open" in states
    assert str(barrier.state) == "closed"
