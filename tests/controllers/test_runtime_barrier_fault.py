"""A barrier that does not open: the stored alarm and the one the console is sent agree."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from controllers.events import EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import Direction
from errors import HardwareError
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from models.events import Alarm


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
