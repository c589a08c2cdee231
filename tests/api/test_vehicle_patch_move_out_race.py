"""An office moving a car (PATCH /api/v1/vehicles/{id}: its flat, its plate) as another
office's 搬离 of the car's flat is confirmed, both through the API at the same moment.

Whichever is written first, the second sees what the first did, as one after the other:
written first, the PATCH moves the car and the move-out, whose flat changed since its dry
run, removes nothing (409); written first, the move-out removes the car and the PATCH finds
it gone (404). The car parked inside stays inside once, counted once, on the flat it belongs
to at the end. Each request's transaction is held at one point until the other waits for one
of its locks (pg_stat_activity), so the second always meets the first's uncommitted writes.

PostgreSQL only: SQLite lets one writer in at a time, and row locks are what is tested.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

import services.household_move_out as move_out_service
from models.db import transaction
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle
from services import presence_corrections
from tests.conftest import add_user, database_params, services_of, wait_until
from tests.test_zone_exit_entry_race import someone_waits_for_a_lock

POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [p for p in database_params() if p.id == "postgres"], indirect=True
)
WAIT_S = 15.0  # a bound on a hung test, not a timing assertion
PLATE, RIGHT = "闽A10001", "闽A10009"

# What the office changes: the car to the other flat, its mistyped plate, or both.
CHANGES: dict[str, Callable[[int], dict[str, Any]]] = {
    "flat": lambda other: {"household_id": other},
    "plate": lambda other: {"plate": RIGHT},
    "flat-and-plate": lambda other: {"household_id": other, "plate": RIGHT},
}


def families(client: Any, *, inside: bool) -> tuple[int, int, int]:
    """Two flats, the first with one car (PLATE), parked inside lot A (counted there) when
    ``inside``: (the car's flat, the other flat, the car)."""
    with transaction(services_of(client).sessions) as session:
        session.get_one(Zone, "A").occupied = int(inside)  # the app's default lot
        home = Household(building="3", unit="1201", spaces=1)
        other = Household(building="5", unit="0808", spaces=1)
        session.add_all([home, other])
        session.flush()
        car = Vehicle(plate=PLATE, household_id=home.id)
        session.add(car)
        if inside:
            session.add(Presence(plate=PLATE, zone_id="A", household_id=home.id,
                                 entered_at=datetime.now(UTC) - timedelta(hours=1)))
        session.flush()
        return home.id, other.id, car.id


def held_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, sessions: Any
              ) -> tuple[threading.Event, threading.Event]:
    """``module.name``'s first call says it was reached (the first event), then goes on only
    once another transaction waits for one of this one's locks, or the other request has
    answered (the second event, set by ``race``): the other request meets what this one
    wrote."""
    real = getattr(module, name)
    reached, other_done = threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        if not reached.is_set():
            reached.set()
            wait_until(lambda: someone_waits_for_a_lock(sessions) or other_done.is_set(),
                       WAIT_S, "the other request waiting for this one's locks")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    return reached, other_done


def answer_of(call: Callable[[], Any], answers: list[Any], done: threading.Event | None = None
              ) -> Callable[[], None]:
    def run() -> None:
        try:
            answers.append(call())
        except Exception as err:  # a 500 raised through the test client
            answers.append(err)
        finally:
            if done is not None:
                done.set()

    return run


def race(first: Callable[[], Any], second: Callable[[], Any],
         held: tuple[threading.Event, threading.Event]) -> tuple[Any, Any]:
    """``first`` in a thread; ``second`` in another once ``first`` reached its hold;
    their answers (or what they raised)."""
    reached, other_done = held
    firsts: list[Any] = []
    seconds: list[Any] = []
    one = threading.Thread(target=answer_of(first, firsts))
    one.start()
    assert reached.wait(WAIT_S)
    two = threading.Thread(target=answer_of(second, seconds, other_done))
    two.start()
    one.join(WAIT_S)
    two.join(WAIT_S)
    assert not one.is_alive() and not two.is_alive()
    return firsts[0], seconds[0]


def status(answer: Any) -> Any:
    return answer.status_code if hasattr(answer, "status_code") else answer


@POSTGRES_ONLY
@pytest.mark.parametrize("inside", [True, False], ids=["car-inside", "car-outside"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_car_moved_as_its_flat_moves_out_is_moved_and_the_move_out_removes_nothing(
    client: Any, monkeypatch: pytest.MonkeyPatch, change: str, inside: bool,
) -> None:
    """The PATCH is written first (the car updated, held before it commits); the 搬离 of the
    car's flat, confirmed on a dry run from before, is sent then. The move-out waits for
    the car, then finds its flat changed and removes nothing (409); the PATCH answers 200
    and the car is where it put it, inside once. The PATCH held the car and then waited
    for its presence row, which the move-out held while it waited for the car to delete it
    (PostgreSQL's deadlock: one of the two a 503); or, the car not inside, the move-out
    deleted the car the PATCH had just moved to the other flat."""
    services = services_of(client)
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    home, other, car = families(client, inside=inside)
    expected = client.post(f"/api/v1/households/{home}/move-out",
                           headers=headers).json()["expected"]
    held = held_once(monkeypatch, presence_corrections, "plate_corrected", services.sessions)
    office1, office2 = TestClient(client.app), TestClient(client.app)

    patched, moved_out = race(
        lambda: office1.patch(f"/api/v1/vehicles/{car}", headers=headers,
                              json=CHANGES[change](other)),
        lambda: office2.post(f"/api/v1/households/{home}/move-out", headers=headers,
                             params={"dry_run": "false"},
                             json={"expected": expected, "remove_block_entries": []}),
        held,
    )
    assert (status(patched), status(moved_out)) == (200, 409), (patched, moved_out)
    now = patched.json()
    flat = other if "flat" in change else home
    plate = RIGHT if "plate" in change else PLATE
    assert (now["household_id"], now["plate"]) == (flat, plate)
    with services.sessions() as session:
        flats = set(session.scalars(select(Household.id)))
        cars = {(v.id, v.plate, v.household_id) for v in session.scalars(select(Vehicle))}
        rows = {(p.plate, p.zone_id, p.household_id) for p in session.scalars(select(Presence))}
        zone = session.get_one(Zone, "A").occupied
    assert flats == {home, other}  # nothing removed
    assert cars == {(car, plate, flat)}
    assert (rows, zone) == (({(plate, "A", flat)}, 1) if inside else (set(), 0))


@POSTGRES_ONLY
@pytest.mark.parametrize("inside", [True, False], ids=["car-inside", "car-outside"])
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_car_moved_after_its_flat_s_move_out_is_written_is_gone_and_the_move_out_completes(
    client: Any, monkeypatch: pytest.MonkeyPatch, change: str, inside: bool,
) -> None:
    """The 搬离 is written first (the flat and its car locked, held before it removes them);
    the PATCH of the car is sent then. The PATCH waits for the move-out and finds the car
    gone (404); the move-out completes and the car parked inside stays inside, counted,
    on no flat's spaces. The PATCH updated the car and then waited for its presence row,
    which the move-out held while it waited for the car to delete it (PostgreSQL's
    deadlock: one of the two a 503). The car not inside, the PATCH waits for the car the
    move-out holds and answers 404, not a 500 for the row gone under its update."""
    services = services_of(client)
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    home, other, car = families(client, inside=inside)
    expected = client.post(f"/api/v1/households/{home}/move-out",
                           headers=headers).json()["expected"]
    # plan_move_out as move_out calls it, with the flat and its cars locked (the route's own
    # read of the list is its import, not held).
    held = held_once(monkeypatch, move_out_service, "plan_move_out", services.sessions)
    office1, office2 = TestClient(client.app), TestClient(client.app)

    moved_out, patched = race(
        lambda: office1.post(f"/api/v1/households/{home}/move-out", headers=headers,
                             params={"dry_run": "false"},
                             json={"expected": expected, "remove_block_entries": []}),
        lambda: office2.patch(f"/api/v1/vehicles/{car}", headers=headers,
                              json=CHANGES[change](other)),
        held,
    )
    assert (status(moved_out), status(patched)) == (200, 404), (moved_out, patched)
    assert moved_out.json()["counts"]["vehicles_inside"] == int(inside)
    with services.sessions() as session:
        flats = set(session.scalars(select(Household.id)))
        cars = list(session.scalars(select(Vehicle)))
        rows = {(p.plate, p.zone_id, p.household_id) for p in session.scalars(select(Presence))}
        zone = session.get_one(Zone, "A").occupied
    assert (flats, cars) == ({other}, [])
    assert (rows, zone) == (({(PLATE, "A", None)}, 1) if inside else (set(), 0))


@POSTGRES_ONLY
@pytest.mark.parametrize("first", ["patch", "move-out"])
def test_a_car_moved_into_a_flat_as_it_moves_out_is_not_lost(
    client: Any, monkeypatch: pytest.MonkeyPatch, first: str,
) -> None:
    """A car parked inside is moved (PATCH) into a flat as that flat's 搬离 is confirmed.
    The PATCH takes the flat (a key-share lock) before the car, the move-out the flat before
    its list: written first, the PATCH moves the car and the move-out finds a car it did not
    list (409, nothing removed); written first, the move-out removes the flat and the PATCH
    finds it gone (404), the car left where it was. Either way the car is on file once and
    inside once, counted once."""
    services = services_of(client)
    headers = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    other, home, car = families(client, inside=True)  # the car is the other flat's
    expected = client.post(f"/api/v1/households/{home}/move-out",
                           headers=headers).json()["expected"]
    office1, office2 = TestClient(client.app), TestClient(client.app)

    def patch() -> Any:
        return office1.patch(f"/api/v1/vehicles/{car}", headers=headers,
                             json={"household_id": home})

    def move_out() -> Any:
        return office2.post(f"/api/v1/households/{home}/move-out", headers=headers,
                            params={"dry_run": "false"},
                            json={"expected": expected, "remove_block_entries": []})

    if first == "patch":
        held = held_once(monkeypatch, presence_corrections, "plate_corrected",
                         services.sessions)
        patched, moved_out = race(patch, move_out, held)
    else:
        held = held_once(monkeypatch, move_out_service, "plan_move_out", services.sessions)
        moved_out, patched = race(move_out, patch, held)
    expected_answers = (200, 409) if first == "patch" else (404, 200)
    assert (status(patched), status(moved_out)) == expected_answers, (patched, moved_out)
    flat = home if first == "patch" else other
    with services.sessions() as session:
        flats = set(session.scalars(select(Household.id)))
        cars = {(v.id, v.household_id) for v in session.scalars(select(Vehicle))}
        rows = {(p.plate, p.zone_id, p.household_id) for p in session.scalars(select(Presence))}
        zone = session.get_one(Zone, "A").occupied
    assert flats == ({home, other} if first == "patch" else {other})
    assert cars == {(car, flat)}
    assert (rows, zone) == ({(PLATE, "A", flat)}, 1)
