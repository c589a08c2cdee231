"""A barrier that does not open: the stored alarm and the one the console is sent agree."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from controllers.events import EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import AccessDecision, Credential, Direction, Reason, Verdict
from errors import HardwareError
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from models.events import Alarm, Passage
from services.passage_journal import FilePassageJournal
from tests.db_outage import DatabaseOutage


class _JammedBarrier:
    command_budget_s = 1.0

    async def open(self) -> str:
        raise HardwareError("limit switch not reached")


def test_a_barrier_fault_alarm_reads_the_same_live_and_stored(database_url: str) -> None:
    engine = create_db_engine(database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    bus = EventBus()
    runtime = GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, None)},
        barriers={"main-in": _JammedBarrier()},
        policy=AccessPolicy(),
        bus=bus,
    )

    async def open_and_listen() -> tuple[str, list[dict[str, object]]]:
        async with bus.subscribe() as queue:
            outcome = await runtime.open_barrier("main-in")
            events = []
            while not queue.empty():
                events.append(queue.get_nowait())
        return outcome, [e.data for e in events if e.type == "alarm"]

    outcome, alarms = asyncio.run(open_and_listen())
    assert outcome == "fault"
    (live,) = alarms
    with sessions() as session:
        (stored,) = session.scalars(select(Alarm)).all()
    assert live["id"] == stored.id and live["kind"] == stored.kind == "hardware_fault"
    assert live["message"] == stored.message
    assert "limit switch not reached" in stored.message and "main-in" in stored.message
    engine.dispose()


class _HungBarrier:
    """Never answers, and overruns the budget it claims (a driver bug the runtime outlives)."""

    command_budget_s = 0.05

    async def open(self) -> str:
        await asyncio.Event().wait()
        return "opening"


def test_a_barrier_that_never_answers_is_logged_and_alarmed_with_a_reason(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Audit L1: a time-out was logged as "did not open: " with nothing after it."""
    engine = create_db_engine(database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    runtime = GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, None)},
        barriers={"main-in": _HungBarrier()},
        policy=AccessPolicy(),
        bus=EventBus(),
    )
    with caplog.at_level(logging.WARNING, logger="controllers.runtime"):
        assert asyncio.run(runtime.open_barrier("main-in")) == "fault"
    (line,) = [r.getMessage() for r in caplog.records if "did not open" in r.getMessage()]
    assert line == "barrier at main-in did not open: no answer within 1.05 s"
    with sessions() as session:
        (stored,) = session.scalars(select(Alarm)).all()
    assert stored.message == line
    engine.dispose()


def _alarms(sessions: Any) -> list[Alarm]:
    with sessions() as session:
        return list(session.scalars(select(Alarm).order_by(Alarm.id)))


FACE = AccessDecision(Verdict.ALLOW, Reason.FACE_RESIDENT, credential=Credential.FACE)


@pytest.mark.parametrize("supervised", [False, True])
def test_a_barrier_outage_is_one_alarm_tied_to_the_first_passage(
    database_url: str, supervised: bool
) -> None:
    """Audit M2: every car during a barrier outage raised its own hardware_fault alarm, none
    tied to a passage. Supervised (as in production) the safety supervisor reports the fault
    first (a lost link) and the runtime only ties its passages to that alarm."""
    engine = create_db_engine(database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    bus = EventBus()
    runtime = GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, None)},
        barriers={"main-in": _JammedBarrier()},
        policy=AccessPolicy(),
        bus=bus,
        fault_alarms=not supervised,
    )

    async def outage() -> tuple[list[int | None], list[dict[str, object]]]:
        async with bus.subscribe() as queue:
            if supervised:
                await runtime.barrier_fault("main-in", "link lost: connection lost")
            results = [await runtime.handle_decision("main-in", FACE) for _ in range(3)]
            if supervised:  # the supervisor's report of each car's fault, after the passage
                await runtime.barrier_fault("main-in", "limit switch not reached")
            events = []
            while not queue.empty():
                events.append(queue.get_nowait())
        assert all(r.barrier == "fault" for r in results)
        return [r.passage_id for r in results], [e.data for e in events if e.type == "alarm"]

    passages, live = asyncio.run(outage())
    (alarm,) = _alarms(sessions)
    assert alarm.kind == "hardware_fault" and alarm.gate_id == "main-in"
    assert alarm.passage_id == passages[0]
    assert [a["id"] for a in live] == [alarm.id]

    # Once a guard acknowledged it, the next fault is news again.
    with sessions.begin() as session:
        session.get(Alarm, alarm.id).acknowledged_at = datetime.now(UTC)  # type: ignore[union-attr]
    asyncio.run(runtime.handle_decision("main-in", FACE))
    assert len(_alarms(sessions)) == 2
    engine.dispose()


def test_a_fault_while_the_database_is_down_is_published_at_once_and_stored_later(
    outage: DatabaseOutage, tmp_path: Path
) -> None:
    """Audit H5: a barrier fault during a database outage raised 'Task exception was never
    retrieved' and the alarm was lost: not on the console, not on MQTT, not stored later."""
    engine = create_db_engine(outage.url)
    migrate(engine)
    sessions = make_session_factory(engine)
    bus = EventBus()
    journal = FilePassageJournal(tmp_path / "journal.jsonl")
    runtime = GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, None)},
        barriers={"main-in": _JammedBarrier()},
        policy=AccessPolicy(),
        bus=bus,
        fault_alarms=False,  # as in production: a safety supervisor reports faults too
        journal=journal,
    )
    outage.cut(engine)

    async def during_the_outage() -> tuple[Any, list[dict[str, object]]]:
        async with bus.subscribe() as queue:
            # A car decided offline, whose barrier does not open; then the supervisor's
            # report of the same fault.
            result = await runtime.handle_decision("main-in", FACE)
            await runtime.barrier_fault("main-in", "limit switch not reached")
            events = []
            while not queue.empty():
                events.append(queue.get_nowait())
        return result, [e.data for e in events if e.type == "alarm"]

    result, live = asyncio.run(during_the_outage())
    assert result.barrier == "fault" and result.journal_id and result.passage_id is None
    (published,) = live  # at once, and once
    assert published["kind"] == "hardware_fault" and published["gate_id"] == "main-in"
    assert published["id"] is None and "limit switch not reached" in str(published["message"])
    assert len(journal.backlog().alarms) == 1

    outage.restore()
    asyncio.run(runtime.replay_journal())
    (stored,) = [a for a in _alarms(sessions) if a.kind == "hardware_fault"]
    assert stored.message == published["message"]
    with sessions() as session:
        (passage,) = session.scalars(select(Passage)).all()
    assert passage.journal_id == result.journal_id and stored.passage_id == passage.id
    assert not journal.waiting()
    engine.dispose()
