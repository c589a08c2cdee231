"""A barrier open cancelled as the barrier answers ends cancelled.

The runtime waited for the barrier's answer with ``asyncio.wait_for``, which on Python 3.11
returns an answer that comes as its task is cancelled and drops the cancellation: the
caller (a camera worker being stopped, a request cancelled at shutdown) went on as if not
cancelled and recorded and reported the open.
"""

from __future__ import annotations

import asyncio

import pytest

from controllers.events import EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import Direction
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from tests.cancel_window import cancel_after_turns

pytestmark = pytest.mark.timeout(120)


class _AnsweringBarrier:
    """Answers an open when the test says so (a stand-in for the relay, as in
    test_runtime_barrier_fault)."""

    command_budget_s = 5.0

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def open(self) -> str:
        self.asked.set()
        await self.answer.wait()
        return "opening"


def test_an_open_cancelled_as_the_barrier_answers_ends_cancelled(database_url: str) -> None:
    """The cancel comes 0 to 5 loop turns after the answer; each that finds the open still
    pending must end it cancelled, not with the barrier's state."""
    engine = create_db_engine(database_url)
    migrate(engine)

    async def main() -> list[int]:
        cancelled_pending: list[int] = []
        for turns in range(6):
            barrier = _AnsweringBarrier()
            runtime = GateRuntime(
                store=SqlAccessStore(make_session_factory(engine)),
                gates={"main-in": GateContext("main-in", Direction.IN, None)},
                barriers={"main-in": barrier},
                policy=AccessPolicy(),
                bus=EventBus(),
            )
            opening = asyncio.create_task(runtime.open_barrier("main-in"))
            async with asyncio.timeout(10):
                await barrier.asked.wait()  # and waits for the answer: nothing runs between
            barrier.answer.set()
            if await cancel_after_turns(opening, turns, "open"):
                cancelled_pending.append(turns)
        return cancelled_pending

    try:
        # The window was hit at all: a cancel came while the answer was on its way.
        assert asyncio.run(main())[:1] == [0]
    finally:
        engine.dispose()
