"""A visitor's car parked inside on a pass of a flat is registered as that flat's own car
(POST /api/v1/vehicles: the visitor is the new tenant) as the flat's 搬离 is confirmed.

The 搬离 takes the flat's passes, then the rows of its cars and visitors inside, then the flat
(docs/parking.md, the order every writer takes). The registration took the flat first (its
foreign key, a key-share lock) and then the car's row inside: each waited for the other,
PostgreSQL's deadlock, and one of the two answered 503. Now it takes the car's row first and
waits for the 搬离, then finds the flat gone (404), as one written after it.

PostgreSQL only: SQLite lets one writer in at a time, and row locks are what is tested.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import services.household_move_out as move_out_service
from models.db import transaction
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle, VisitorPass
from tests.api.test_vehicle_patch_move_out_race import POSTGRES_ONLY, held_once, race, status
from tests.conftest import add_user, services_of

PLATE = "闽A10001"


def visitor_inside(client: Any) -> int:
    """A flat whose visitor's car (PLATE, on the flat's pass) is parked inside lot A."""
    now = datetime.now(UTC)
    with transaction(services_of(client).sessions) as session:
        session.get_one(Zone, "A").occupied = 1
        flat = Household(building="3", unit="1201", spaces=1)
        session.add(flat)
        session.flush()
        visit = VisitorPass(plate=PLATE, host_household_id=flat.id,
                            valid_from=now - timedelta(hours=2), valid_to=now + timedelta(days=3))
        session.add(visit)
        session.flush()
        session.add(Presence(plate=PLATE, zone_id="A", pass_id=visit.id,
                             household_id=flat.id, entered_at=now - timedelta(hours=1)))
        return flat.id


@POSTGRES_ONLY
def test_a_visitor_s_car_registered_as_its_host_flat_moves_out_waits_for_the_move_out(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = services_of(client)
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    flat = visitor_inside(client)
    expected = client.post(f"/api/v1/households/{flat}/move-out",
                           headers=headers).json()["expected"]
    # The 搬离 holding the pass and the car's row, before it takes the flat.
    held = held_once(monkeypatch, move_out_service, "lock_household", services.sessions)
    office1, office2 = TestClient(client.app), TestClient(client.app)

    moved_out, registered = race(
        lambda: office1.post(f"/api/v1/households/{flat}/move-out", headers=headers,
                             params={"dry_run": "false"},
                             json={"expected": expected, "remove_block_entries": []}),
        lambda: office2.post("/api/v1/vehicles", headers=headers,
                             json={"plate": PLATE, "household_id": flat}),
        held,
    )

    assert (status(moved_out), status(registered)) == (200, 404), (moved_out, registered)
    assert registered.json()["detail"] == f"household {flat} not found"
    with services.sessions() as session:
        passes = list(session.scalars(select(VisitorPass)))
        cars = [(v.plate, v.household_id) for v in session.scalars(select(Vehicle))]
        rows = [(p.plate, p.household_id, p.pass_id) for p in session.scalars(select(Presence))]
        zone = session.get_one(Zone, "A").occupied
    assert (passes, cars) == ([], [])  # the 搬离 removed the flat and its pass
    assert (rows, zone) == ([(PLATE, None, None)], 1)  # still inside once, on no flat
