"""A car's entry written as the office's 搬离 of the flat the car belongs to is confirmed.

The gate decides on the car's record as it reads it; the office changes that record
meanwhile: moves the car to another flat (PATCH /vehicles), then moves that flat out, or
moves out the flat whose visitor pass lets the car in. Whichever is written first, the second
waits for the first and sees what it did: the move-out completes, the passage is recorded
online (not lost, not taken for a database outage), and the car is inside once, counted
once, on no flat's spaces (as a move-out leaves a car already inside). Through the real
controller, the gate's passage in its own thread, the office's writes in another, on
PostgreSQL: SQLite lets one writer in at a time, and row locks are what is tested.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import services.household_move_out as move_out_service
from controllers.events import EventBus
from controllers.policy import AccessPolicy
from controllers.runtime import GateRuntime
from models.access_store import SqlAccessStore, _Unit
from models.db import transaction
from models.events import Passage
from models.people import Household
from models.vehicles import Presence, Vehicle, VisitorPass
from services.household_move_out import move_out, plan_move_out
from services.presence_corrections import household_changed
from tests.conftest import wait_until
from tests.test_zone_exit_counting import GATES, IN_A, counts, site
from tests.test_zone_exit_entry_race import (
    VISITOR,
    WAIT_S,
    WaitsInAdmissionStore,
    beside,
    count_alarms,
    lock_pass,
    on_postgres,
    someone_waits_for_a_lock,
    visitor_site,
)


def moves_out(sessions: sessionmaker[Session], household_id: int, done: list[Any]
              ) -> Callable[[], None]:
    """The office's 搬离 of ``household_id`` confirmed on the list as it reads now, in its
    own transaction; ``done`` gets "moved out" or what it raised (the admin's 5xx)."""

    def office() -> None:
        try:
            with transaction(sessions) as session:
                expected = plan_move_out(session, household_id).fingerprint()
                move_out(session, household_id, operator="admin", expected=expected)
            done.append("moved out")
        except Exception as err:
            done.append(err)

    return office


def recorded(sessions: sessionmaker[Session], passage_id: int
             ) -> tuple[str, dict[str, tuple[str | None, int | None, int | None]]]:
    """The passage's decision, and the cars recorded inside (zone, flat, pass)."""
    with sessions() as session:
        decision = session.get_one(Passage, passage_id).decision
        rows = {p.plate: (p.zone_id, p.household_id, p.pass_id)
                for p in session.scalars(select(Presence))}
    return decision, rows


class CarReadsStore(SqlAccessStore):
    """The real store, whose admission runs ``after_first`` once it has read the car's
    record as on file the first time (``_as_on_file``, as the admission starts) and
    ``before_second`` before it reads it again."""

    def __init__(self, factory: sessionmaker[Session], *, after_first: Callable[[], None],
                 before_second: Callable[[], None]) -> None:
        super().__init__(factory)
        self._after_first, self._before_second = after_first, before_second

    @contextmanager
    def unit(self) -> Iterator[_Unit]:
        with super().unit() as unit:
            read, reads = unit._as_on_file, [0]

            def as_on_file(*args: Any, **kwargs: Any) -> tuple[str, int | None]:
                reads[0] += 1
                if reads[0] == 2:
                    self._before_second()
                found = read(*args, **kwargs)
                if reads[0] == 1:
                    self._after_first()
                return found

            unit._as_on_file = as_on_file  # type: ignore[method-assign]
            yield unit


def test_an_entry_as_its_car_moves_flats_and_the_new_flat_moves_out_ends_consistent(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A flat's car is let in on its registration; as its admission starts (the car read
    in its flat) the office moves the car to another flat (committed), then confirms that
    flat's 搬离, which locks the flat before the entry reads the car again. The entry reads
    the car's flat afresh and locks it before the car: it waits for the move-out, finds the
    flat and the car gone and records the car inside on nobody's spaces; the move-out
    completes. It locked the flat it had read first, then the car, then the flat the car
    was on by then: it held the car while it waited for the move-out's flat, and the
    move-out, holding the flat, waited for the car to delete it (PostgreSQL's deadlock: the
    passage taken for an outage, or the move-out refused)."""
    if not on_postgres(sessions):
        pytest.skip("row locks: SQLite serialises the two writers")
    site(sessions, IN_A)
    with transaction(sessions) as session:
        home = session.scalars(select(Vehicle.household_id)).one()
        flat = Household(building="5", unit="0808", spaces=1)
        session.add(flat)
        session.flush()
        other = flat.id
    read, patched, flat_held = threading.Event(), threading.Event(), threading.Event()

    def after_first() -> None:
        read.set()
        assert patched.wait(WAIT_S)

    def before_second() -> None:
        assert flat_held.wait(WAIT_S)

    store = CarReadsStore(sessions, after_first=after_first, before_second=before_second)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    locked = move_out_service.lock_household

    def then_the_entry(session: Session, household_id: int) -> None:
        locked(session, household_id)
        flat_held.set()  # the entry goes on, and meets the move-out's locks
        wait_until(lambda: someone_waits_for_a_lock(sessions), WAIT_S, "the entry waiting")

    monkeypatch.setattr(move_out_service, "lock_household", then_the_entry)
    done: list[Any] = []

    def office() -> None:
        assert read.wait(WAIT_S)
        with transaction(sessions) as session:  # PATCH /vehicles/{id} {"household_id"}
            vehicle = session.scalars(select(Vehicle)).one()
            vehicle.household_id = other
            session.flush()
            household_changed(session, IN_A, home, other)
        patched.set()
        moves_out(sessions, other, done)()
        flat_held.set()

    entry = asyncio.run(beside(runtime, office, "a-in"))
    assert done == ["moved out"]
    assert entry.journal_id is None  # written online, not taken for an outage
    assert recorded(sessions, entry.passage_id) == ("allow", {IN_A: ("A", None, None)})
    with sessions() as session:
        assert set(session.scalars(select(Household.id))) == {home}
        assert session.scalars(select(Vehicle)).all() == []
    assert counts(sessions) == (1, 0)
    assert count_alarms(sessions) == []


def test_a_visitor_s_entry_and_its_host_flat_s_move_out_at_once_end_consistent(
    sessions: sessionmaker[Session],
) -> None:
    """A visitor's entry on a flat's pass is being written (the pass's use counted, held
    until another writer waits) as the flat's 搬离 is confirmed. The move-out takes the
    flat's passes first, as an entry on one does (the pass, then the car's row, then the
    flat): it waits for the entry, then removes the pass and the flat; the car stays inside,
    counted once, on no flat's spaces. It locked the flat first and the pass when it deleted
    it, while the entry, holding the pass, waited for the flat to record whose visitor the
    car is (PostgreSQL's deadlock: the passage taken for an outage, or the move-out
    refused)."""
    if not on_postgres(sessions):
        pytest.skip("row locks: SQLite serialises the two writers")
    pass_id = visitor_site(sessions)
    with sessions() as session:
        host = session.scalars(select(Household.id)).one()
    store = WaitsInAdmissionStore(sessions, gate="a-in", first=lock_pass)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    done: list[Any] = []
    move = moves_out(sessions, host, done)

    def office() -> None:
        assert store.holding.wait(WAIT_S)
        move()

    entry = asyncio.run(beside(runtime, office, "a-in", plate=VISITOR))
    assert done == ["moved out"]
    assert entry.journal_id is None  # written online, not taken for an outage
    assert recorded(sessions, entry.passage_id) == ("allow", {VISITOR: ("A", None, None)})
    with sessions() as session:
        assert session.scalars(select(Household)).all() == []
        assert session.get(VisitorPass, pass_id) is None
    assert counts(sessions) == (1, 0)
    assert count_alarms(sessions) == []
