"""A guard's command cancelled as the barrier answers ends cancelled.

The command waited for the barrier with ``asyncio.wait_for``, which on Python 3.11 returns an
answer that comes as its task is cancelled and drops the cancellation: a request cancelled
(a server's shutdown) went on, audited the command as done and answered it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.container import build_services
from services.gate_actions import perform_gate_action
from tests.cancel_window import cancel_after_turns

pytestmark = pytest.mark.timeout(120)


class _AnsweringBarrier:
    """Answers a close when the test says so (a stand-in for the relay)."""

    command_budget_s = 5.0
    state = "open"
    fault = None

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def close(self) -> str:
        self.asked.set()
        await self.answer.wait()
        return "closing"


def test_a_close_cancelled_as_the_barrier_answers_ends_cancelled(
    make_settings: Any, plate_recognizer: Any
) -> None:
    """The cancel comes 0 to 5 loop turns after the answer; each that finds the command still
    pending must end it cancelled, not audited as done."""
    services = build_services(make_settings(), recognizer=plate_recognizer)

    async def main() -> list[int]:
        cancelled_pending: list[int] = []
        for turns in range(6):
            barrier = _AnsweringBarrier()
            services.barriers["main-in"] = barrier  # type: ignore[assignment]
            closing = asyncio.create_task(perform_gate_action(
                services, username="guard", gate_id="main-in", action="close",
                reason="cancel test",
            ))
            async with asyncio.timeout(10):
                await barrier.asked.wait()  # and waits for the answer: nothing runs between
            barrier.answer.set()
            if await cancel_after_turns(closing, turns, "close"):
                cancelled_pending.append(turns)
        return cancelled_pending

    try:
        # The window was hit at all: a cancel came while the answer was on its way.
        assert asyncio.run(main())[:1] == [0]
    finally:
        services.engine.dispose()
