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


def test_a_space_with_an_owner_is_private_whatever_its_kind(app_factory: Any) -> None:
    """A spaces CSV whose kind column is left blank makes an owned space `standard`: guidance
    keeps it for its owner (assigned_to), and its state must stay off the public list, the
    zone totals and the one-space endpoint as an `assigned` one's does."""
    owned = {"id": "B-202", "zone": "B", "assigned_to": "resident:1", "distances_m": {"3": 80}}
    client = app_factory(parking={"spaces": [*SPACES, owned]})
    _sensor(client, "A-101", False)
    _sensor(client, "B-202", False)
    before = client.get("/api/v1/availability/spaces")
    _sensor(client, "B-202", True)  # the resident came home
    after = client.get("/api/v1/availability/spaces")

    assert "B-202" not in {s["id"] for s in after.json()["spaces"]}
    assert after.json() == before.json()
    assert after.json()["zones"]["B"] == {"spaces": 0, "free": 0, "occupied": 0, "unknown": 0}
    assert client.get("/api/v1/availability/spaces/B-202").status_code == 404
