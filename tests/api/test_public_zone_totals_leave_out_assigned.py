"""The public per-zone space totals leave out assigned (产权/租赁) spaces, as the list does.

docs/parking.md leaves a household's own space out of /availability/spaces because its state
tells who is home; counting it in the zone's `occupied` told the same thing.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

SPACES = [
    {"id": "A-101", "zone": "A", "kind": "standard", "distances_m": {"3": 20}},
    {"id": "B-201", "zone": "B", "kind": "assigned", "assigned_to": "household:1",
     "distances_m": {"3": 90}},
]


def _sensor(client: Any, space: str, occupied: bool) -> None:
    payload = {"space": space, "occupied": occupied, "ts": datetime.now(UTC).isoformat()}
    outcome = client.app.state.services.parking.ingest_sensor(json.dumps(payload).encode())
    assert str(outcome) == "accepted"


def test_an_occupied_assigned_space_moves_no_public_zone_total(app_factory: Any) -> None:
    client = app_factory(parking={"spaces": SPACES})
    _sensor(client, "A-101", False)
    _sensor(client, "B-201", False)
    before = client.get("/api/v1/availability/spaces")
    _sensor(client, "B-201", True)  # the household came home
    after = client.get("/api/v1/availability/spaces")

    assert after.json() == before.json()
    assert after.headers["etag"] == before.headers["etag"]
    assert after.json()["zones"] == {
        "A": {"spaces": 1, "free": 1, "occupied": 0, "unknown": 0},
        "B": {"spaces": 0, "free": 0, "occupied": 0, "unknown": 0},
    }
