"""A car's exit comes off the zone that counted it in, whichever gate it leaves by.

Two lots of a community (above ground A, underground B) each count by their own gates, and a
driver may leave by the other lot's exit, or both lots share the community's main exit. The
exit used to come off the exit gate's zone: B drifted low (offering spaces that were not
free, clamped at 0 with occupancy_below_zero), A high until an admin corrected it. A car not
recorded inside (entered before parkgate, its entry missed) still comes off the exit gate's
zone as before. Online, from the journal after an outage, and through a failed barrier's
undo and a guard's open (redo) alike, on a real database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.offline import OfflineAccess
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime, Opener
from controllers.values import Direction, Sighting
from errors import HardwareError
from models.access_store import SqlAccessStore
from models.db import transaction
from models.events import Alarm, Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle
from services.passage_journal import FilePassageJournal

IN_A, IN_B, OUT_A, OUT_B = "闽A10001", "闽A10002", "闽A10003", "闽A10004"

# Each lot's own entry and exit, and the community's main exit, which counts into no zone.
GATES = {
    "a-in": GateContext("a-in", Direction.IN, "A"),
    "a-out": GateContext("a-out", Direction.OUT, "A"),
    "b-in": GateContext("b-in", Direction.IN, "B"),
    "b-out": GateContext("b-out", Direction.OUT, "B"),
    "main-out": GateContext("main-out", Direction.OUT, None),
}


class Barrier:
    """Opens, or while ``jammed`` does not (a limit switch not reached)."""

    command_budget_s = 1.0

    def __init__(self) -> None:
        self.jammed = False

    async def open(self) -> str:
        if self.jammed:
            raise HardwareError("limit switch not reached")
        return "opening"


def site(sessions: sessionmaker[Session], *plates: str, b_counted: int = 0) -> None:
    """Zones A and B of 40; ``b_counted``: cars B counts from before parkgate (no record)."""
    with transaction(sessions) as session:
        session.add(Zone(id="A", name="A区", capacity=40, occupied=0))
        session.add(Zone(id="B", name="B区", capacity=40, occupied=b_counted))
        for plate in plates:
            household = Household(building="3", unit=plate[-3:], spaces=1)
            session.add(household)
            session.flush()
            session.add(Vehicle(plate=plate, household_id=household.id))


def runtime_for(
    sessions: sessionmaker[Session], *, barriers: dict[str, Opener] | None = None,
    folder: Path | None = None,
) -> GateRuntime:
    journalled: dict[str, Any] = {}
    if folder is not None:
        journalled = {
            "journal": FilePassageJournal(folder / "journal" / "passages.jsonl"),
            "offline": OfflineAccess(),
        }
    return GateRuntime(store=SqlAccessStore(sessions), gates=GATES, barriers=barriers or {},
                       policy=AccessPolicy(), bus=EventBus(), **journalled)


def counts(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as session:
        a, b = session.get(Zone, "A"), session.get(Zone, "B")
        assert a is not None and b is not None
        return a.occupied, b.occupied


def below_zero_alarms(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(
            select(Alarm.kind).where(Alarm.kind == "occupancy_below_zero")
        ))


async def at(runtime: GateRuntime, gate: str, plate: str) -> Any:
    result = await runtime.handle_sighting(Sighting(gate, datetime.now(UTC), plate, 0.97))
    assert result.decision.verdict.value == "allow", result.decision
    return result


def test_an_exit_by_the_other_lot_s_gate_comes_off_the_lot_that_counted_the_car(
    sessions: sessionmaker[Session],
) -> None:
    site(sessions, IN_A, IN_B, OUT_A, OUT_B, b_counted=1)
    runtime = runtime_for(sessions)

    async def scenario() -> list[tuple[int, int]]:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        await at(runtime, "b-in", IN_B)
        seen = [counts(sessions)]
        await at(runtime, "b-out", IN_A)  # entered A, leaves by B's exit
        seen.append(counts(sessions))
        await at(runtime, "a-out", IN_B)  # entered B, leaves by A's exit
        seen.append(counts(sessions))
        # Not recorded inside (one of B's cars from before parkgate): B's own exit, as before.
        await at(runtime, "b-out", OUT_B)
        seen.append(counts(sessions))
        return seen

    assert asyncio.run(scenario()) == [(1, 2), (0, 2), (0, 1), (0, 0)]
    assert not below_zero_alarms(sessions)
    with sessions() as session:
        exits = session.scalars(
            select(Passage).where(Passage.direction == "out").order_by(Passage.id)
        ).all()
    # Each passage stays where it happened; its admission names the zone its count moved.
    assert [(p.zone_id, (p.admission or {}).get("zone_id")) for p in exits] == [
        ("B", "A"), ("A", "B"), ("B", "B")
    ]


def test_the_community_s_main_exit_takes_each_car_off_its_own_lot_and_tells_the_boards(
    sessions: sessionmaker[Session],
) -> None:
    """An exit gate configured with no zone counted nothing: both lots drifted high."""
    site(sessions, IN_A, IN_B)
    runtime = runtime_for(sessions)

    async def scenario() -> list[Any]:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        await at(runtime, "b-in", IN_B)
        async with runtime._bus.subscribe() as events:
            await at(runtime, "main-out", IN_B)
            published = []
            while not events.empty():
                published.append(events.get_nowait())
        return [e.data for e in published if e.type == "availability"]

    (availability,) = asyncio.run(scenario())
    assert counts(sessions) == (1, 0)
    # Boards and the city feed hear of it at once, not at their next refresh.
    assert {z["id"]: z["occupied"] for z in availability["zones"]} == {"A": 1, "B": 0}


def test_a_failed_barrier_and_the_guard_s_open_move_the_lot_that_counted_the_car(
    sessions: sessionmaker[Session],
) -> None:
    """The admission's undo and redo move the zone its exit moved, not the exit gate's."""
    site(sessions, IN_A, IN_B)
    barrier = Barrier()
    runtime = runtime_for(sessions, barriers={"b-out": barrier})

    async def scenario() -> list[tuple[int, int]]:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)
        await at(runtime, "b-in", IN_B)
        barrier.jammed = True
        result = await at(runtime, "b-out", IN_A)
        assert result.barrier == "fault"
        seen = [counts(sessions)]  # the car did not leave: still counted in A
        barrier.jammed = False
        await runtime.open_barrier_for("b-out", passage_id=result.passage_id)
        seen.append(counts(sessions))
        return seen

    assert asyncio.run(scenario()) == [(1, 1), (0, 1)]
    with sessions() as session:
        assert session.get(Presence, IN_A) is None
    assert not below_zero_alarms(sessions)


def test_exits_decided_during_an_outage_come_off_the_lot_that_counted_each_car(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    """The journal's write-back counts as online does, in the order the cars passed."""
    site(sessions, IN_A, IN_B, OUT_A)
    runtime = runtime_for(sessions, folder=tmp_path)

    async def replay() -> list[dict[str, Any]]:
        async with runtime._bus.subscribe() as events:
            written = await runtime.replay_journal()
            published = []
            while not events.empty():
                published.append(events.get_nowait())
        return [{"written": written}, *(e.data for e in published if e.type == "availability")]

    async def scenario() -> list[list[dict[str, Any]]]:
        runtime._bus.bind(asyncio.get_running_loop())
        await at(runtime, "a-in", IN_A)  # recorded inside A before the outage
        await at(runtime, "b-in", IN_B)
        await runtime.refresh_offline()
        runtime.mark_database_unavailable()
        assert (await at(runtime, "b-out", IN_A)).journal_id
        assert (await at(runtime, "a-in", OUT_A)).journal_id  # enters and leaves offline
        assert (await at(runtime, "main-out", OUT_A)).journal_id
        assert counts(sessions) == (1, 1)  # nothing counted until it is written back
        first = await replay()
        assert counts(sessions) == (0, 1)
        # An outage whose only passage is an exit by the gate that counts into no zone.
        runtime.mark_database_unavailable()
        assert (await at(runtime, "main-out", IN_B)).journal_id
        return [first, await replay()]

    first, second = asyncio.run(scenario())
    assert counts(sessions) == (0, 0)
    occupied = [[{z["id"]: z["occupied"] for z in view["zones"]} for view in replay[1:]]
                for replay in (first, second)]
    assert (first[0], second[0]) == ({"written": 3}, {"written": 1})
    assert occupied == [[{"A": 0, "B": 1}], [{"A": 0, "B": 0}]]
    assert not below_zero_alarms(sessions)
