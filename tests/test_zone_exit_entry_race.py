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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.policy import AccessPolicy, ZoneOccupancy
from controllers.ports import PassageRecord
from controllers.runtime import GateRuntime
from models.access_store import SqlAccessStore, _Unit
from models.events import Alarm, Passage
from models.vehicles import Presence
from services.cars_inside import recorded_per_zone
from tests.test_zone_exit_counting import GATES, IN_A, at, counts, site

WAIT_S = 10.0  # a bound on a hung test, not a timing assertion


class MeetingStore(SqlAccessStore):
    """The real store, whose units, once ``meet`` is called, hold each gate's decision
    until the other gate has decided too. Then the gate of zone ``second`` writes its
    passage only once the other has written its own admission, not yet committed (None:
    both write at once, in whatever order their threads run)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        super().__init__(factory)
        self._meeting: threading.Barrier | None = None
        self._second: str | None = None
        self._first_written = threading.Event()

    def meet(self, second: str | None) -> None:
        self._meeting, self._second = threading.Barrier(2, timeout=WAIT_S), second

    @contextmanager
    def unit(self) -> Iterator[_Unit]:
        meeting = self._meeting
        with super().unit() as unit:
            if meeting is not None:
                self._hold(unit, meeting)
            yield unit

    def _hold(self, unit: _Unit, meeting: threading.Barrier) -> None:
        read, write, admit = unit.occupancy, unit.record_passage, unit.apply_admission
        asked: list[str | None] = []

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
