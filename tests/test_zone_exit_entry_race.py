"""An exit at lot A and an entry at lot B of the same plate at the same moment.

A cloned plate, or two cameras reading one car a moment apart (it left A unseen and a late
exit read arrives as it enters B): both gates decide on the car recorded inside A before
either has written. Whichever is written first, the second must see what the first did:
both passages are recorded, the car is recorded inside at most once, in the lot that counts
it, and no count goes below zero. Through the real controller, each gate's passage in its
own thread on a real database (SQLite and PostgreSQL); the store only holds both decisions
until both are made, and then lets one gate write while the other's change is written and
not yet committed (or both at once).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.policy import AccessPolicy, ZoneOccupancy
from controllers.ports import ADMISSION_UNDONE, PassageRecord
from controllers.runtime import GateRuntime
from models.access_store import SqlAccessStore, _Unit
from models.db import transaction
from models.events import Alarm, Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle, VisitorPass
from services.cars_inside import recorded_per_zone
from services.household_move_out import move_out, plan_move_out
from services.presence_corrections import household_changed, pass_deleted, plate_corrected
from tests.conftest import wait_until
from tests.test_zone_exit_counting import GATES, IN_A, Barrier, at, counts, site

WAIT_S = 10.0  # a bound on a hung test, not a timing assertion


def someone_waits_for_a_lock(sessions: sessionmaker[Session]) -> bool:
    """Whether a transaction on this PostgreSQL database waits for a lock another holds."""
    with sessions() as session:
        return bool(session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")))


def on_postgres(sessions: sessionmaker[Session]) -> bool:
    return bool(sessions.kw["bind"].dialect.name == "postgresql")


class MeetingStore(SqlAccessStore):
    """The real store, whose units, once ``meet`` is called, hold each gate's decision
    until the other gate has decided too. Then the gate of zone ``second`` writes its
    passage only once the other has written its admission, which on PostgreSQL commits
    only once the second waits for one of its locks, or would have gone past it had it
    taken none: the second's write meets the first's uncommitted one. (SQLite lets one
    writer in at a time, so there the first commits as it ends.) ``second`` None: both
    write at once, in whatever order their threads run."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        super().__init__(factory)
        self._sessions = factory
        self._meeting: threading.Barrier | None = None
        self._second: str | None = None
        self._first_written = threading.Event()

    def meet(self, second: str | None) -> None:
        self._meeting, self._second = threading.Barrier(2, timeout=WAIT_S), second

    @contextmanager
    def unit(self) -> Iterator[_Unit]:
        meeting, asked = self._meeting, list[str | None]()
        with super().unit() as unit:
            if meeting is not None:
                self._hold(unit, meeting, asked)
            yield unit
            first = self._second is not None and asked and asked != [self._second]
            if first and on_postgres(self._sessions):
                wait_until(lambda: someone_waits_for_a_lock(self._sessions), WAIT_S,
                           "the second gate waiting for the first's locks")

    def _hold(self, unit: _Unit, meeting: threading.Barrier, asked: list[str | None]) -> None:
        read, write, admit = unit.occupancy, unit.record_passage, unit.apply_admission

        def occupancy(zone_id: str | None) -> ZoneOccupancy | None:
            found = read(zone_id)  # the gate's last read before it decides
            asked.append(zone_id)
            meeting.wait()
            return found

        def record_passage(record: PassageRecord) -> int:
            if asked == [self._second]:
                assert self._first_written.wait(WAIT_S)
            return write(record)

        def apply_admission(record: PassageRecord, passage_id: int) -> list[str]:
            alarms = admit(record, passage_id)
            if asked != [self._second]:
                self._first_written.set()
            return alarms

        unit.occupancy = occupancy  # type: ignore[method-assign]
        unit.record_passage = record_passage  # type: ignore[method-assign]
        unit.apply_admission = apply_admission  # type: ignore[method-assign]


def count_alarms(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Alarm.kind).where(Alarm.kind.like("occupancy_%"))))


@pytest.mark.parametrize("second", ["B", "A", None],
                         ids=["exit-written-first", "entry-written-first", "at-once"])
def test_an_exit_at_a_and_an_entry_at_b_at_once_end_consistent(
    sessions: sessionmaker[Session], second: str | None,
) -> None:
    site(sessions, IN_A)
    store = MeetingStore(sessions)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())

    async def scenario() -> tuple[Any, Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        store.meet(second)
        out, entry = await asyncio.gather(at(runtime, "a-out", IN_A), at(runtime, "b-in", IN_A))
        return out, entry

    out, entry = asyncio.run(scenario())
    # Both passages are in the database, each as its gate decided it.
    with sessions() as session:
        passages = {p.id: (p.gate_id, p.decision) for p in session.scalars(select(Passage))}
        rows = {p.plate: (p.zone_id, p.passage_id) for p in session.scalars(select(Presence))}
        per_zone = recorded_per_zone(session)
    assert passages[out.passage_id] == ("a-out", "allow")
    assert passages[entry.passage_id] == ("b-in", "allow")
    assert out.journal_id is None and entry.journal_id is None  # not decided offline
    # One of the two orders, and the counts hold exactly the cars recorded in them.
    exit_then_entry = ((0, 1), {IN_A: ("B", entry.passage_id)})
    entry_then_exit: tuple[tuple[int, int], dict[str, Any]] = ((0, 0), {})
    ended = (counts(sessions), rows)
    if second == "B":
        assert ended == exit_then_entry
    elif second == "A":
        assert ended == entry_then_exit
    else:
        assert ended in (exit_then_entry, entry_then_exit)
    a, b = counts(sessions)
    assert (per_zone.get("A", 0), per_zone.get("B", 0)) == (a, b)
    assert count_alarms(sessions) == []  # no count clamped, none over


class UndoMeetsStore(SqlAccessStore):
    """The real store, holding one scenario in step: the passage at the gate of zone
    ``later`` is decided once the one at ``first``'s is written, and its admission takes
    the row the undo will want first thing (``hold``), as the admission itself does; the
    first passage's barrier fails, and its undo starts only then; the later passage goes on
    once the undo waits for that row. PostgreSQL only: SQLite locks the whole database for
    one writer, and the two run in either order there."""

    def __init__(
        self, factory: sessionmaker[Session], *, postgres: bool, first: str, later: str,
        hold: Callable[[Session, PassageRecord], None],
    ) -> None:
        super().__init__(factory)
        self._sessions = factory
        self._postgres = postgres
        self._first, self._later, self._take = first, later, hold
        self.active = False
        self._first_written = threading.Event()
        self._later_holds_row = threading.Event()

    @contextmanager
    def unit(self) -> Iterator[_Unit]:
        asked: list[str | None] = []
        with super().unit() as unit:
            if self.active:
                self._hold(unit, asked)
            yield unit
        if asked == [self._first]:
            self._first_written.set()

    def _hold(self, unit: _Unit, asked: list[str | None]) -> None:
        read, admit, undo = unit.occupancy, unit.apply_admission, unit.undo_admission

        def occupancy(zone_id: str | None) -> ZoneOccupancy | None:
            asked.append(zone_id)
            if zone_id == self._later:
                assert self._first_written.wait(WAIT_S)
            return read(zone_id)

        def apply_admission(record: PassageRecord, passage_id: int) -> list[str]:
            if asked == [self._later]:
                self._take(unit.session, record)
                self._later_holds_row.set()
                if self._postgres:
                    wait_until(lambda: someone_waits_for_a_lock(self._sessions), WAIT_S,
                               "the undo waiting")
            return admit(record, passage_id)

        def undo_admission(passage_id: int) -> bool:
            # On SQLite this unit already holds the database's one write lock (the outcome
            # written just before), so the later passage cannot be let in first: the two run
            # in whichever order, as SQLite serialises them.
            if self._postgres:
                assert self._later_holds_row.wait(WAIT_S)
            return undo(passage_id)

        unit.occupancy = occupancy  # type: ignore[method-assign]
        unit.apply_admission = apply_admission  # type: ignore[method-assign]
        unit.undo_admission = undo_admission  # type: ignore[method-assign]


def lock_presence(session: Session, record: PassageRecord) -> None:
    session.execute(select(Presence.plate).where(Presence.plate == IN_A).with_for_update())


def lock_pass(session: Session, record: PassageRecord) -> None:
    session.execute(select(VisitorPass.id).where(
        VisitorPass.id == record.decision.pass_id).with_for_update())


def test_a_failed_barrier_s_undo_of_a_move_and_the_car_s_exit_at_once_end_consistent(
    sessions: sessionmaker[Session],
) -> None:
    """The car moved into B as B's barrier failed, and its exit at A is written as the
    failed open takes the move back: the undo waits for the exit's row, then finds the car
    gone and moves nothing back. It took the zones' locks before the row, the exit the row
    before a zone: each waited for the other (PostgreSQL's deadlock, taken for an outage),
    and one of the two was lost."""
    site(sessions, IN_A)
    # The entry at B is written first; the exit at A holds the car's row.
    store = UndoMeetsStore(sessions, postgres=on_postgres(sessions), first="B", later="A",
                           hold=lock_presence)
    barrier = Barrier()
    runtime = GateRuntime(store=store, gates=GATES, barriers={"b-in": barrier},
                          policy=AccessPolicy(), bus=EventBus())

    async def scenario() -> tuple[Any, Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        store.active, barrier.jammed = True, True
        entry, out = await asyncio.gather(at(runtime, "b-in", IN_A), at(runtime, "a-out", IN_A))
        return entry, out

    entry, out = asyncio.run(scenario())
    assert entry.barrier == "fault"
    with sessions() as session:
        passages = {p.id: (p.gate_id, p.decision, p.barrier_outcome, p.flags)
                    for p in session.scalars(select(Passage))}
        rows = list(session.scalars(select(Presence)))
    # Both written, the entry's failed open and its undo too (a deadlock lost one of them).
    gate, decision, outcome, flags = passages[entry.passage_id]
    assert (gate, decision, outcome, ADMISSION_UNDONE in flags) == ("b-in", "allow", "fault", True)
    assert passages[out.passage_id][:2] == ("a-out", "allow")
    assert (counts(sessions), rows) == ((0, 0), [])  # it left; nothing moved back
    assert count_alarms(sessions) == []


@pytest.mark.parametrize("second", ["B", "A", None],
                         ids=["b-written-last", "a-written-last", "at-once"])
def test_two_entries_of_one_plate_at_a_and_b_at_once_record_one_car(
    sessions: sessionmaker[Session], second: str | None,
) -> None:
    """A cloned plate entering both lots at once, the car recorded inside neither: the
    entry written second finds the car the first recorded, and moves it as any entry of a
    car recorded inside the other lot does. Both added a presence row for the plate, and
    the second was refused by the database (a duplicate key: online, an error; with the
    journal, decided offline and set aside)."""
    site(sessions, IN_A)
    store = MeetingStore(sessions)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())

    async def scenario() -> tuple[Any, Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        store.meet(second)
        into_a, into_b = await asyncio.gather(at(runtime, "a-in", IN_A),
                                              at(runtime, "b-in", IN_A))
        return into_a, into_b

    into_a, into_b = asyncio.run(scenario())
    with sessions() as session:
        passages = {p.id: (p.gate_id, p.decision) for p in session.scalars(select(Passage))}
        rows = {p.plate: (p.zone_id, p.passage_id) for p in session.scalars(select(Presence))}
    assert passages == {into_a.passage_id: ("a-in", "allow"),
                        into_b.passage_id: ("b-in", "allow")}
    in_b_last = ((0, 1), {IN_A: ("B", into_b.passage_id)})
    in_a_last = ((1, 0), {IN_A: ("A", into_a.passage_id)})
    ended = (counts(sessions), rows)
    if second == "B":
        assert ended == in_b_last
    elif second == "A":
        assert ended == in_a_last
    else:
        assert ended in (in_b_last, in_a_last)
    assert count_alarms(sessions) == []


async def beside(runtime: GateRuntime, office: Callable[[], None], *passages: str,
                 plate: str = IN_A) -> Any:
    """The car (``plate``) passing ``passages``' gates in turn, and ``office`` (what staff do
    at that moment, in a thread of its own as a request would be) started just before the
    last; that passage's answer, once ``office`` has ended."""
    runtime._bus.bind(asyncio.get_running_loop())
    for gate in passages[:-1]:
        await at(runtime, gate, plate)
    thread = threading.Thread(target=office)
    thread.start()
    try:
        return await at(runtime, passages[-1], plate)
    finally:
        await asyncio.to_thread(thread.join, WAIT_S)


class WaitsInAdmissionStore(SqlAccessStore):
    """The real store, whose admission at ``gate`` takes what ``first`` locks (None: makes
    its own writes first), says so (``holding``), and on PostgreSQL goes on and commits only
    once someone waits for one of its locks (what the test starts meanwhile)."""

    def __init__(
        self, factory: sessionmaker[Session], *, gate: str,
        first: Callable[[Session, PassageRecord], None] | None = None,
    ) -> None:
        super().__init__(factory)
        self._sessions = factory
        self._gate, self._first = gate, first
        self.holding = threading.Event()

    @contextmanager
    def unit(self) -> Iterator[_Unit]:
        with super().unit() as unit:
            admit = unit.apply_admission

            def apply_admission(record: PassageRecord, passage_id: int) -> list[str]:
                if record.gate_id != self._gate:
                    return admit(record, passage_id)
                alarms: list[str] | None = None
                if self._first is not None:
                    self._first(unit.session, record)
                else:
                    alarms = admit(record, passage_id)
                self.holding.set()
                if on_postgres(self._sessions):
                    wait_until(lambda: someone_waits_for_a_lock(self._sessions), WAIT_S,
                               "the other writer waiting")
                return admit(record, passage_id) if alarms is None else alarms

            unit.apply_admission = apply_admission  # type: ignore[method-assign]
            yield unit


def test_a_plate_correction_that_merges_and_the_car_s_exit_at_once_end_consistent(
    sessions: sessionmaker[Session],
) -> None:
    """The office corrects the plate of a car recorded inside A to one recorded inside B
    (a merge: A comes down one) as the car's exit at A is written. The correction locks
    the row it merges before A, as the exit does: it waits for the exit, finds the car gone
    and takes nothing off A. It took A first and then waited for the row the exit held while
    the exit waited for A (PostgreSQL's deadlock: the exit taken for an outage, or the
    correction refused). PostgreSQL only: SQLite lets one writer in at a time."""
    if not on_postgres(sessions):
        pytest.skip("row locks: SQLite serialises the two writers")
    site(sessions, IN_A)
    right = "闽A10009"
    with transaction(sessions) as session:
        household_id = session.scalars(select(Vehicle.household_id)).one()
        session.add(Presence(plate=right, zone_id="B", entered_at=datetime.now(UTC)))
        session.get_one(Zone, "B").occupied = 1
    # The exit at A holds the car's row, as its admission's first lock.
    store = WaitsInAdmissionStore(sessions, gate="a-out", first=lock_presence)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    corrected: list[str | None] = []

    def correct() -> None:
        assert store.holding.wait(WAIT_S)
        with transaction(sessions) as session:
            corrected.append(plate_corrected(session, IN_A, right, household_id=household_id))

    out = asyncio.run(beside(runtime, correct, "a-in", "a-out"))
    assert out.journal_id is None  # written online, not taken for an outage
    assert corrected == [None]  # the car had left: nothing to merge
    with sessions() as session:
        assert session.get_one(Passage, out.passage_id).decision == "allow"
        rows = {p.plate: p.zone_id for p in session.scalars(select(Presence))}
    assert (counts(sessions), rows) == ((0, 1), {right: "B"})
    assert count_alarms(sessions) == []


VISITOR = "闽A20001"


def test_a_failed_barrier_s_undo_of_a_visitor_s_entry_and_its_entry_elsewhere_end_consistent(
    sessions: sessionmaker[Session],
) -> None:
    """A visitor let in at A whose barrier fails, read at B's gate as the failed open takes
    A's entry back: the undo takes the pass's row before the car's presence row, as an
    admission does (pass use, then presence, then zones), so it waits for B's entry, finds
    the car moved into B and takes nothing back. It removed the row first and then waited
    for the pass B held while B waited for that row (PostgreSQL's deadlock: B's entry taken
    for an outage, or the undo lost and A's entry left counted)."""
    site(sessions)
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        host = Household(building="3", unit="1201", spaces=1)
        session.add(host)
        session.flush()
        session.add(VisitorPass(plate=VISITOR, host_household_id=host.id,
                                valid_from=now - timedelta(minutes=5),
                                valid_to=now + timedelta(hours=4)))
    # The entry at A is written first; the entry at B holds the pass, as it counts its use.
    store = UndoMeetsStore(sessions, postgres=on_postgres(sessions), first="A", later="B",
                           hold=lock_pass)
    barrier = Barrier()
    runtime = GateRuntime(store=store, gates=GATES, barriers={"a-in": barrier},
                          policy=AccessPolicy(), bus=EventBus())

    async def scenario() -> tuple[Any, Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        store.active, barrier.jammed = True, True
        into_a, into_b = await asyncio.gather(at(runtime, "a-in", VISITOR),
                                              at(runtime, "b-in", VISITOR))
        return into_a, into_b

    into_a, into_b = asyncio.run(scenario())
    assert into_a.barrier == "fault"
    assert into_b.journal_id is None  # written online, not taken for an outage
    with sessions() as session:
        passages = {p.id: (p.gate_id, p.decision, p.barrier_outcome, p.flags)
                    for p in session.scalars(select(Passage))}
        rows = {p.plate: (p.zone_id, p.passage_id) for p in session.scalars(select(Presence))}
    gate, decision, outcome, flags = passages[into_a.passage_id]
    assert (gate, decision, outcome, ADMISSION_UNDONE in flags) == ("a-in", "allow", "fault", True)
    assert passages[into_b.passage_id][:2] == ("b-in", "allow")
    # Either order: B's entry first (the undo finds the car moved and leaves it), or the undo
    # first (the car recorded nowhere, B's entry records it): in B, counted there only.
    assert (counts(sessions), rows) == ((0, 1), {VISITOR: ("B", into_b.passage_id)})
    assert count_alarms(sessions) == []


def test_a_guard_s_open_giving_an_entry_back_and_an_entry_elsewhere_at_once_record_one_car(
    sessions: sessionmaker[Session],
) -> None:
    """The car's entry at A was taken back (its barrier failed), and a guard opens A for it
    as the same plate is let in at B: the open, giving A's entry back, finds the car B
    recorded and puts nothing back, as one after the other. It added a row under the plate
    as B's uncommitted one was there: on PostgreSQL a duplicate key once B committed, and
    the guard's open failed with it."""
    site(sessions, IN_A)
    # B's entry records the car, uncommitted.
    store = WaitsInAdmissionStore(sessions, gate="b-in")
    barrier = Barrier()
    runtime = GateRuntime(store=store, gates=GATES, barriers={"a-in": barrier},
                          policy=AccessPolicy(), bus=EventBus())

    async def scenario() -> tuple[Any, Any, Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        barrier.jammed = True
        first = await at(runtime, "a-in", IN_A)
        assert first.barrier == "fault"
        barrier.jammed = False

        async def guard_opens() -> Any:
            assert await asyncio.to_thread(store.holding.wait, WAIT_S)
            return await runtime.open_barrier_for("a-in", passage_id=first.passage_id)

        into_b, opened = await asyncio.gather(at(runtime, "b-in", IN_A), guard_opens())
        return first, into_b, opened

    first, into_b, _opened = asyncio.run(scenario())
    assert into_b.journal_id is None
    with sessions() as session:
        flags = session.get_one(Passage, first.passage_id).flags
        rows = {p.plate: (p.zone_id, p.passage_id) for p in session.scalars(select(Presence))}
    assert ADMISSION_UNDONE in flags  # counted by B's entry, not given back by the open
    assert (counts(sessions), rows) == ((0, 1), {IN_A: ("B", into_b.passage_id)})
    assert count_alarms(sessions) == []


def office_moves_the_car(action: str, household_id: int) -> Callable[[Session], bool]:
    """What the office does to the car (admin routes and 搬离, as they write it): deletes it
    (DELETE /vehicles), moves it to another flat (PATCH /vehicles, household_id) or moves its
    flat out (services/household_move_out.py); whether it found the car inside."""

    def delete_it(session: Session) -> bool:
        vehicle = session.scalars(select(Vehicle).where(Vehicle.plate == IN_A)).one()
        inside = household_changed(session, IN_A, household_id, None)
        session.delete(vehicle)
        return inside

    def move_it(session: Session) -> bool:
        flat = Household(building="5", unit="0808", spaces=1)
        session.add(flat)
        session.flush()
        vehicle = session.scalars(select(Vehicle).where(Vehicle.plate == IN_A)).one()
        vehicle.household_id = flat.id
        session.flush()
        return household_changed(session, IN_A, household_id, flat.id)

    def move_out_flat(session: Session) -> bool:
        expected = plan_move_out(session, household_id).fingerprint()
        plan = move_out(session, household_id, operator="admin", expected=expected)
        return any(vehicle.inside for vehicle in plan.vehicles)  # as its answer lists them

    return {"delete": delete_it, "move": move_it, "move-out": move_out_flat}[action]


@pytest.mark.parametrize("action", ["delete", "move", "move-out"])
def test_the_office_deleting_or_moving_a_car_as_its_exit_is_written_ends_consistent(
    sessions: sessionmaker[Session], action: str,
) -> None:
    """The office deletes a car recorded inside A, moves it to another flat, or moves its
    flat out (搬离), as the car's exit at A is written. The office locks the car's presence
    row before it changes whose car it is, as every writer of the row does: it waits for the
    exit, finds the car gone and changes nothing inside. It read the row unlocked and updated
    it once the exit had deleted it (PostgreSQL: StaleDataError, the admin's change refused
    with a 500). On SQLite, which lets one writer in at a time, the two run in either order,
    to the same end."""
    site(sessions, IN_A)
    with sessions() as session:
        household_id = session.scalars(select(Vehicle.household_id)).one()
    # The exit at A holds the car's row, as its admission's first lock.
    store = WaitsInAdmissionStore(sessions, gate="a-out", first=lock_presence)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    change = office_moves_the_car(action, household_id)
    done: list[bool | Exception] = []

    def office() -> None:
        assert store.holding.wait(WAIT_S)
        try:
            with transaction(sessions) as session:
                done.append(change(session))
        except Exception as err:  # the admin's 500
            done.append(err)

    out = asyncio.run(beside(runtime, office, "a-in", "a-out"))
    assert len(done) == 1 and not isinstance(done[0], Exception), done
    if on_postgres(sessions):  # the office waited for the exit: the car was gone
        assert done == [False]
    assert out.journal_id is None  # written online, not taken for an outage
    with sessions() as session:
        assert session.get_one(Passage, out.passage_id).decision == "allow"
        rows = list(session.scalars(select(Presence)))
        flats = session.scalars(select(Household.unit).join(
            Vehicle, Vehicle.household_id == Household.id)).all()
    assert (counts(sessions), rows) == ((0, 0), [])
    assert flats == (["0808"] if action == "move" else [])
    assert count_alarms(sessions) == []



class AdmissionAfterStore(SqlAccessStore):
    """The real store, whose admission waits, once ``started`` is set, until ``started``'s
    writer has written (``written``): the gate decided on what was there before."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        super().__init__(factory)
        self.started = threading.Event()
        self.written = threading.Event()

    @contextmanager
    def unit(self) -> Iterator[_Unit]:
        with super().unit() as unit:
            admit = unit.apply_admission

            def apply_admission(record: PassageRecord, passage_id: int) -> list[str]:
                self.started.set()
                assert self.written.wait(WAIT_S)
                return admit(record, passage_id)

            unit.apply_admission = apply_admission  # type: ignore[method-assign]
            yield unit


def test_a_car_let_in_as_its_flat_moves_out_is_recorded_inside_as_nobody_s(
    sessions: sessionmaker[Session],
) -> None:
    """The gate lets a flat's car in on its registration as the flat's 搬离 is written (the
    flat and the car deleted, not yet committed). The entry reads the flat afresh under the
    lock its foreign key takes: it waits for the move-out, finds the flat gone and records
    the car inside on no household's spaces, as the move-out leaves a car already inside. It
    wrote the flat's id it had decided on, and on PostgreSQL failed on the foreign key once
    the move-out committed (the passage lost: an error, or with the journal taken for an
    outage). PostgreSQL only: SQLite lets one writer in at a time (the gate's passage is
    written before its admission, so the move-out waits for the whole entry there)."""
    if not on_postgres(sessions):
        pytest.skip("row locks: SQLite serialises the two writers")
    site(sessions, IN_A)
    with sessions() as session:
        household_id = session.scalars(select(Vehicle.household_id)).one()
    store = AdmissionAfterStore(sessions)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    done: list[str | Exception] = []

    def office() -> None:
        assert store.started.wait(WAIT_S)
        try:
            with transaction(sessions) as session:
                expected = plan_move_out(session, household_id).fingerprint()
                move_out(session, household_id, operator="admin", expected=expected)
                store.written.set()  # the entry goes on, and waits for the move-out's locks
                wait_until(lambda: someone_waits_for_a_lock(sessions), WAIT_S,
                           "the entry waiting")
            done.append("moved out")
        except Exception as err:  # the admin's 500
            done.append(err)
            store.written.set()

    entry = asyncio.run(beside(runtime, office, "a-in"))
    assert done == ["moved out"]
    assert entry.journal_id is None  # written online
    with sessions() as session:
        assert session.get_one(Passage, entry.passage_id).decision == "allow"
        rows = {p.plate: (p.zone_id, p.household_id) for p in session.scalars(select(Presence))}
        assert session.scalars(select(Household)).all() == []
    assert (counts(sessions), rows) == ((1, 0), {IN_A: ("A", None)})
    assert count_alarms(sessions) == []


def delete_the_pass(pass_id: int, then: Callable[[], None] = lambda: None
                    ) -> Callable[[Session], int]:
    """DELETE /passes/{id} as the route writes it, ``then`` before its commit; the uses it
    audits."""

    def delete_it(session: Session) -> int:
        visitor_pass = session.get_one(VisitorPass, pass_id)
        pass_deleted(session, visitor_pass)
        session.delete(visitor_pass)
        session.flush()
        then()
        return visitor_pass.uses

    return delete_it


def visitor_site(sessions: sessionmaker[Session]) -> int:
    """Zones A and B, and a pass for VISITOR hosted by a flat of one space; its id."""
    site(sessions)
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        host = Household(building="3", unit="1201", spaces=1)
        session.add(host)
        session.flush()
        visitor_pass = VisitorPass(plate=VISITOR, host_household_id=host.id,
                                   valid_from=now - timedelta(minutes=5),
                                   valid_to=now + timedelta(hours=4))
        session.add(visitor_pass)
        session.flush()
        return visitor_pass.id


def test_a_visitor_pass_deleted_as_its_car_s_entry_is_written_ends_consistent(
    sessions: sessionmaker[Session],
) -> None:
    """An admin deletes a visitor's pass as the visitor's entry on it is written (its use
    counted, the car recorded inside, not yet committed). The deletion takes the pass
    first, as the entry did: it waits for the entry, and then finds the car inside on the
    pass. The admin gets no error, the passage is kept, the car is inside and counted once,
    on no household's spaces (the host's own car is not over its spaces), and the audit
    entry has the use the entry counted. The pass's deletion made the car the host's own
    (the database's SET NULL), and audited the uses read before the entry's."""
    pass_id = visitor_site(sessions)
    store = WaitsInAdmissionStore(sessions, gate="a-in")
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    done: list[int | Exception] = []

    def office() -> None:
        assert store.holding.wait(WAIT_S)
        try:
            with transaction(sessions) as session:
                done.append(delete_the_pass(pass_id)(session))
        except Exception as err:  # the admin's 500
            done.append(err)

    entry = asyncio.run(beside(runtime, office, "a-in", plate=VISITOR))
    assert done == [1]
    assert entry.journal_id is None  # written online, not taken for an outage
    with sessions() as session:
        assert session.get_one(Passage, entry.passage_id).decision == "allow"
        rows = {p.plate: (p.zone_id, p.household_id, p.pass_id)
                for p in session.scalars(select(Presence))}
        assert session.get(VisitorPass, pass_id) is None
    assert (counts(sessions), rows) == ((1, 0), {VISITOR: ("A", None, None)})
    assert count_alarms(sessions) == []


def test_a_visitor_let_in_as_its_pass_is_deleted_is_recorded_inside_as_nobody_s(
    sessions: sessionmaker[Session],
) -> None:
    """The gate lets the visitor in on its pass as an admin's deletion of the pass is
    written (not yet committed). The entry counts the pass's use first, so it waits for the
    deletion, finds the pass gone and records the car inside, counted, on no household's
    spaces, as a deletion leaves a car already inside. It recorded the car as the host's own
    car (counted against the host's spaces). PostgreSQL only: SQLite lets one writer in at a
    time (the gate's passage is written before its admission, so the deletion waits for the
    whole entry there: the test above)."""
    if not on_postgres(sessions):
        pytest.skip("row locks: SQLite serialises the two writers")
    pass_id = visitor_site(sessions)
    store = AdmissionAfterStore(sessions)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    done: list[int | Exception] = []

    def entry_waits() -> None:
        store.written.set()  # the entry goes on, and waits for the deletion's locks
        wait_until(lambda: someone_waits_for_a_lock(sessions), WAIT_S, "the entry waiting")

    def office() -> None:
        assert store.started.wait(WAIT_S)
        try:
            with transaction(sessions) as session:
                done.append(delete_the_pass(pass_id, entry_waits)(session))
        except Exception as err:  # the admin's 500
            done.append(err)
            store.written.set()

    entry = asyncio.run(beside(runtime, office, "a-in", plate=VISITOR))
    assert done == [0]
    assert entry.journal_id is None  # written online, not lost nor taken for an outage
    with sessions() as session:
        assert session.get_one(Passage, entry.passage_id).decision == "allow"
        rows = {p.plate: (p.zone_id, p.household_id, p.pass_id)
                for p in session.scalars(select(Presence))}
    assert (counts(sessions), rows) == ((1, 0), {VISITOR: ("A", None, None)})
    assert count_alarms(sessions) == []


def test_a_plate_correction_written_as_the_car_s_exit_is_takes_the_car_out_all_the_same(
    sessions: sessionmaker[Session],
) -> None:
    """The office corrects the plate of a car recorded inside A (the row follows to the right
    plate, not yet committed) as the car's exit at A, decided on the old plate, is written.
    The exit waits for the row, finds it gone under the old plate, and takes the car out
    where the correction moved it. It took nothing off: the car left recorded inside under
    the right plate, A counting it, for good. PostgreSQL only: SQLite lets one writer in at
    a time (the exit's passage is written before its admission, so the correction waits
    for the whole exit there)."""
    if not on_postgres(sessions):
        pytest.skip("row locks: SQLite serialises the two writers")
    site(sessions, IN_A)
    right = "闽A10009"
    with transaction(sessions) as session:
        household_id = session.scalars(select(Vehicle.household_id)).one()
        session.add(Presence(plate=IN_A, zone_id="A", household_id=household_id,
                             entered_at=datetime.now(UTC) - timedelta(hours=1)))
        session.get_one(Zone, "A").occupied = 1
    store = AdmissionAfterStore(sessions)
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    done: list[str | Exception | None] = []

    def office() -> None:
        assert store.started.wait(WAIT_S)
        try:
            with transaction(sessions) as session:
                vehicle = session.scalars(select(Vehicle)).one()
                vehicle.plate = right
                session.flush()
                done.append(plate_corrected(session, IN_A, right, household_id=household_id))
                store.written.set()  # the exit goes on, and waits for the correction's locks
                wait_until(lambda: someone_waits_for_a_lock(sessions), WAIT_S,
                           "the exit waiting")
        except Exception as err:  # the admin's 500
            done.append(err)
            store.written.set()

    out = asyncio.run(beside(runtime, office, "a-out"))
    assert done == ["followed"]
    assert out.journal_id is None  # written online
    with sessions() as session:
        assert session.get_one(Passage, out.passage_id).decision == "allow"
        rows = list(session.scalars(select(Presence)))
    assert (counts(sessions), rows) == ((0, 0), [])
    assert count_alarms(sessions) == []


def patch_plate(sessions: sessionmaker[Session], right: str, *, then: Callable[[], None]
                ) -> Callable[[], str | None]:
    """PATCH /vehicles/{id} {"plate": right} of the one car, as the route writes it; ``then``
    runs once it is written, before it commits. Returns what it did to the car inside."""
    def correct() -> str | None:
        with transaction(sessions) as session:
            vehicle = session.scalars(select(Vehicle)).one()
            old, vehicle.plate = vehicle.plate, right
            session.flush()
            inside = plate_corrected(session, old, right, household_id=vehicle.household_id)
            household_changed(session, right, None, vehicle.household_id)
            then()
            return inside

    return correct


@pytest.mark.parametrize("first", ["entry", "correction"])
def test_a_car_s_entry_written_as_its_plate_is_corrected_is_recorded_under_the_new_plate(
    sessions: sessionmaker[Session], first: str,
) -> None:
    """The office corrects a car's mistyped plate (PATCH /vehicles/{id}) as the car's entry,
    decided on the old plate, is written. The entry reads the car afresh under a lock its
    UPDATE conflicts with. Written first, the correction waits for the entry and finds its
    row to move; written second, the entry waits for the correction and records the car
    under the new plate. Either way the car is inside once, under the right plate, on its
    household's space. The correction looked for the car inside before the entry's new row
    was committed, found nothing, and the car stayed inside under the old plate for good (a
    phantom on the household's spaces; the car leaving under the new plate unrecorded).
    PostgreSQL only: SQLite lets one writer in at a time."""
    if not on_postgres(sessions):
        pytest.skip("row locks: SQLite serialises the two writers")
    site(sessions, IN_A)
    right = "闽A10009"
    with sessions() as session:
        household_id = session.scalars(select(Vehicle.household_id)).one()
    done: list[str | None] = []
    store: SqlAccessStore
    if first == "entry":
        held = WaitsInAdmissionStore(sessions, gate="a-in")
        correct = patch_plate(sessions, right, then=lambda: None)

        def office() -> None:
            assert held.holding.wait(WAIT_S)
            done.append(correct())

        store = held
    else:
        after = AdmissionAfterStore(sessions)

        def written() -> None:
            after.written.set()  # the entry goes on, and waits for the correction's lock
            wait_until(lambda: someone_waits_for_a_lock(sessions), WAIT_S, "the entry waiting")

        correct = patch_plate(sessions, right, then=written)

        def office() -> None:
            assert after.started.wait(WAIT_S)
            done.append(correct())

        store = after
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())
    entered = asyncio.run(beside(runtime, office, "a-in"))
    assert entered.journal_id is None  # written online
    assert entered.decision.reason == "resident"
    assert done == (["followed"] if first == "entry" else [None])
    with sessions() as session:
        rows = {p.plate: (p.zone_id, p.household_id) for p in session.scalars(select(Presence))}
        admission = session.get_one(Passage, entered.passage_id).admission or {}
    assert rows == {right: ("A", household_id)}
    assert counts(sessions) == (1, 0)
    assert admission["plate"] == (IN_A if first == "entry" else right)
    assert count_alarms(sessions) == []
