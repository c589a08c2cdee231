"""A flat deleted (DELETE /api/v1/households/{id}) as the office adds a car or a resident to
it, both through the API at the same moment.

The deletion is refused while the flat still has cars, residents or visitor passes. It
counted them unlocked: an addition not committed yet was not counted, and the deletion, which
then waited for it, took the new car or resident with the flat (ON DELETE CASCADE), both
answered as done. The addition is held after its write until the deletion waits for it.

PostgreSQL only: SQLite lets one writer in at a time, and row locks are what is tested.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

import api.routes.admin as admin_routes
from models.people import Resident
from models.vehicles import Vehicle
from tests.api.test_vehicle_patch_move_out_race import POSTGRES_ONLY, held_once, race, status
from tests.conftest import services_of

ADDED: dict[str, tuple[str, type[Resident] | type[Vehicle], Any]] = {
    "car": ("/api/v1/vehicles", Vehicle, lambda flat: {"household_id": flat, "plate": "闽A10001"}),
    "resident": ("/api/v1/residents", Resident, lambda flat: {"household_id": flat,
                                                             "name": "林芳"}),
}


@POSTGRES_ONLY
@pytest.mark.parametrize("what", list(ADDED))
def test_a_flat_is_not_deleted_with_what_was_added_to_it_meanwhile(
    client: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch, what: str,
) -> None:
    url, model, body = ADDED[what]
    flat = client.post("/api/v1/households", json={"building": "3", "unit": "1201"},
                       headers=admin_headers).json()["id"]
    sessions = services_of(client).sessions
    held = held_once(monkeypatch, admin_routes, "audit", sessions)  # after the addition's write

    added, deleted = race(
        lambda: client.post(url, json=body(flat), headers=admin_headers),
        lambda: client.delete(f"/api/v1/households/{flat}", headers=admin_headers),
        held)

    assert status(added) == 201, added
    assert status(deleted) == 409, deleted
    assert "remove them first" in deleted.json()["detail"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(model)) == 1
    assert client.get(f"/api/v1/households/{flat}", headers=admin_headers).status_code == 200


@POSTGRES_ONLY
@pytest.mark.parametrize("what", list(ADDED))
def test_what_is_added_to_a_flat_being_deleted_is_refused_not_lost(
    client: Any, admin_headers: dict[str, str], monkeypatch: pytest.MonkeyPatch, what: str,
) -> None:
    """The deletion first (held before it commits): the addition waits for it, then finds
    the flat gone, and says which (it said "refers to something that does not exist")."""
    url, model, body = ADDED[what]
    flat = client.post("/api/v1/households", json={"building": "3", "unit": "1201"},
                       headers=admin_headers).json()["id"]
    sessions = services_of(client).sessions
    held = held_once(monkeypatch, admin_routes, "audit", sessions)  # after the count

    deleted, added = race(
        lambda: client.delete(f"/api/v1/households/{flat}", headers=admin_headers),
        lambda: client.post(url, json=body(flat), headers=admin_headers),
        held)

    assert status(deleted) == 204, deleted
    assert status(added) == 404, added
    assert added.json()["detail"] == f"household {flat} not found"
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(model)) == 0
