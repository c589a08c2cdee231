"""Two cars of one flat let in at the same moment, one of them moving between lots.

The flat's car recorded inside lot B is let in at lot A (it left B unseen), as the flat's
other car is let in at B. Each entry reads the flat afresh under a lock (whether a 搬离 removed
it meanwhile: models/access_store.py ``_still_there``), and the one moving between lots does
so after it has locked both lots' counts. Both passages are written online, each car is
inside once, in the lot it entered, and each lot counts exactly its cars. Through the real
controller, each gate's passage in its own thread, on PostgreSQL: SQLite lets one writer in
at a time, and row locks are what is tested.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.policy import AccessPolicy
from controllers.runtime import GateRuntime
from controllers.values import Direction
from models.access_store import SqlAccessStore, _Unit
from models.db import transaction
from models.events import Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle
from tests.conftest import wait_until
from tests.test_zone_exit_counting import GATES, IN_A, IN_B, at, counts, site
from tests.test_zone_exit_entry_race import (
    WAIT_S,
    count_alarms,
    on_postgres,
    someone_waits_for_a_lock,
)


class CountHeldStore(SqlAccessStore):
    """The real store, whose admission at ``gate`` says when it is about to move its lot's
    count (``holding``: everything before it written, its locks held), and goes on once
    another transaction waits for one of its locks or ``other_done`` is set."""

    def __init__(self, factory: sessionmaker[Session], *, gate: str) -> None:
        super().__init__(factory)
        self._sessions, self._gate = factory, gate
        self.holding, self.other_done = threading.Event(), threading.Event()

    @contextmanager
    def unit(self) -> Iterator[_Unit]:
        with super().unit() as unit:
            count, gate = unit._count, [""]
            admit = unit.apply_admission

            def apply_admission(record: Any, passage_id: int) -> list[str]:
                gate[0] = record.gate_id
                return admit(record, passage_id)

            def held_count(direction: Direction, zone_id: str | None, **kwargs: Any
                           ) -> tuple[int, list[str]]:
                if gate[0] == self._gate and not self.holding.is_set():
                    self.holding.set()
                    wait_until(lambda: someone_waits_for_a_lock(self._sessions)
                               or self.other_done.is_set(), WAIT_S, "the other entry waiting")
                return count(direction, zone_id, **kwargs)

            unit.apply_admission = apply_admission  # type: ignore[method-assign]
            unit._count = held_count  # type: ignore[method-assign]
            yield unit


def test_a_flat_s_car_moving_lots_and_its_other_car_let_in_at_once_end_consistent(
    sessions: sessionmaker[Session],
) -> None:
    """The other car's entry at B is written up to its count of B (the flat read and
    locked, held there); the car recorded in B is let in at A then: it locks A and B, comes
    off B and reads the flat. A key-share lock, as the foreign key's: the two entries do not
    wait for each other on the flat, the move waits for B's count and both are written. Both
    locked the flat for update (no key): the move, holding B, waited for the flat; the
    other entry, holding the flat, waited for B (PostgreSQL's deadlock, one passage taken
    for an outage and journalled)."""
    if not on_postgres(sessions):
        pytest.skip("row locks: SQLite serialises the two writers")
    site(sessions)
    with transaction(sessions) as session:
        flat = Household(building="3", unit="1201", spaces=2)
        session.add(flat)
        session.flush()
        session.add_all([Vehicle(plate=IN_A, household_id=flat.id),
                         Vehicle(plate=IN_B, household_id=flat.id),
                         Presence(plate=IN_A, zone_id="B", household_id=flat.id,
                                  entered_at=datetime.now(UTC) - timedelta(hours=1))])
        session.get_one(Zone, "B").occupied = 1
        flat_id = flat.id
    store = CountHeldStore(sessions, gate="b-in")
    runtime = GateRuntime(store=store, gates=GATES, barriers={}, policy=AccessPolicy(),
                          bus=EventBus())

    async def scenario() -> tuple[Any, Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        other = asyncio.create_task(at(runtime, "b-in", IN_B))
        assert await asyncio.to_thread(store.holding.wait, WAIT_S)
        try:
            moved = await at(runtime, "a-in", IN_A)
        finally:
            store.other_done.set()
        return moved, await other

    moved, other = asyncio.run(scenario())
    assert moved.journal_id is None and other.journal_id is None  # both written online
    with sessions() as session:
        decisions = {p.id: (p.gate_id, p.decision) for p in session.scalars(select(Passage))}
        rows = {p.plate: (p.zone_id, p.household_id) for p in session.scalars(select(Presence))}
    assert decisions == {moved.passage_id: ("a-in", "allow"),
                         other.passage_id: ("b-in", "allow")}
    assert rows == {IN_A: ("A", flat_id), IN_B: ("B", flat_id)}
    assert counts(sessions) == (1, 1)
    assert count_alarms(sessions) == []
