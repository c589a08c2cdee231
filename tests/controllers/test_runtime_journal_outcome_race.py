"""A journal write-back that runs while an offline car's barrier is still moving.

The entry was written with outcome ``pending``, and the outcome line the barrier's answer
then appended found no entry and was dropped: the passage read ``pending`` for ever
(``pending`` marks only passages a crash interrupted), and a barrier that failed never took
its admission back. Now the write-back leaves an entry whose barrier has not answered in the
journal, and writes it with its outcome next time. The barrier is the simulated driver, its
relay's echo held back until the write-back has run; the database is real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from controllers.runtime import GateRuntime, PassageResult
from controllers.values import Sighting
from hardware.simulated import SimFault, SimulatedBarrier
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.events import Alarm, Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle
from tests.journal_runtime import journalled_runtime, quick_barrier

RESIDENT = "闽A10001"


class HeldRelay:
    """The simulated barrier's relay, answering only once the test lets it: the open is on
    the wire, the arm has not moved, the runtime waits for the answer."""

    def __init__(self, barrier: SimulatedBarrier) -> None:
        self.sent = asyncio.Event()
        self.answer = asyncio.Event()
        send = barrier.motor.set_output

        async def held(channel: int, on: bool) -> None:
            self.sent.set()
            await self.answer.wait()
            await send(channel, on)

        barrier.motor.set_output = held  # type: ignore[method-assign]


def patient_barrier() -> SimulatedBarrier:
    """Quick arm, and a command time-out far longer than the test holds the relay."""
    return quick_barrier(command_timeout_s=20.0)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Zone A and one resident's car."""
    engine: Engine = create_db_engine(database_url)
    migrate(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        session.add(Zone(id="A", name="A", capacity=40, occupied=0))
        household = Household(building="3", unit="101", spaces=1)
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=RESIDENT, household_id=household.id))
    yield factory
    engine.dispose()


def written(sessions: sessionmaker[Session]) -> list[tuple[str | None, str, list[str]]]:
    with sessions() as session:
        rows = session.execute(
            select(Passage.journal_id, Passage.barrier_outcome, Passage.flags)
        ).all()
    return [(journal_id, outcome, list(flags or [])) for journal_id, outcome, flags in rows]


def counted(sessions: sessionmaker[Session]) -> tuple[int, bool]:
    """(zone A's count, whether the car is recorded inside)."""
    with sessions() as session:
        zone = session.get(Zone, "A")
        assert zone is not None
        return zone.occupied, session.get(Presence, RESIDENT) is not None


def run_write_back_during_the_open(
    sessions: sessionmaker[Session], folder: Path, *, fails: bool
) -> dict[str, Any]:
    """An offline car whose open is on the wire; the write-back runs (the database answers
    again), then the relay answers, then the next write-back."""
    barrier = patient_barrier()
    runtime: GateRuntime = journalled_runtime(sessions, folder, barriers={"main-in": barrier})
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await barrier.start()
        try:
            await runtime.refresh_offline()
            relay = HeldRelay(barrier)
            runtime.mark_database_unavailable()  # the car is decided offline and journalled
            car: asyncio.Task[PassageResult] = asyncio.create_task(runtime.handle_sighting(
                Sighting("main-in", datetime.now(UTC), RESIDENT, 0.97)
            ))
            await asyncio.wait_for(relay.sent.wait(), 5)
            seen["during"] = await runtime.replay_journal()
            seen["held"] = [e.barrier_outcome for e in runtime.journalled_passages()]
            if fails:
                barrier.inject_fault(SimFault.OFFLINE)
            relay.answer.set()
            seen["car"] = await asyncio.wait_for(car, 10)
            seen["after"] = await runtime.replay_journal()
            seen["left"] = runtime.journal_waiting()
        finally:
            await barrier.stop()

    asyncio.run(scenario())
    return seen


def test_an_entry_whose_barrier_is_still_moving_is_written_with_its_outcome(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seen = run_write_back_during_the_open(sessions, tmp_path, fails=False)
    car: PassageResult = seen["car"]
    assert car.journal_id is not None and car.barrier in ("opening", "open")
    # Left in the journal while the barrier had not answered...
    assert (seen["during"], seen["held"]) == (0, ["pending"])
    # ...and written with the barrier's answer once it had: nothing is left behind.
    assert seen["after"] == 1 and not seen["left"]
    assert written(sessions) == [(car.journal_id, car.barrier, ["offline"])]
    assert counted(sessions) == (1, True)


def test_a_barrier_that_fails_after_the_write_back_ran_takes_the_admission_back(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    seen = run_write_back_during_the_open(sessions, tmp_path, fails=True)
    car: PassageResult = seen["car"]
    assert car.barrier == "fault"
    assert (seen["during"], seen["after"], seen["left"]) == (0, 1, False)
    assert written(sessions) == [(car.journal_id, "fault", ["offline", "admission_undone"])]
    assert counted(sessions) == (0, False)  # the car did not get in
    # The fault's alarm waited with its passage, and is tied to it.
    with sessions() as session:
        faults = session.scalars(
            select(Alarm.passage_id).where(Alarm.kind == "hardware_fault")
        ).all()
        passage_id = session.scalar(select(Passage.id))
    assert faults == [passage_id]
