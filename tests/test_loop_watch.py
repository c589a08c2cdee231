"""A stalled event loop is logged with what held it, and counted for /metrics; a loop that
keeps answering is never reported."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from services.loop_watch import LoopWatch


def hold_the_loop_with_a_synchronous_sleep(seconds: float) -> None:
    time.sleep(seconds)  # a blocking call on the loop, as a synchronous write to a slow disk


def stall_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "services.loop_watch" and r.levelno == logging.WARNING]


async def until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_stall_is_logged_with_the_blocking_call_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="services.loop_watch")
    watch = LoopWatch(stall_s=0.3, ask_every_s=0.05)

    async def scenario() -> None:
        await watch.start()
        await asyncio.sleep(0.2)  # the watch has had answers: no stall yet
        assert watch.health().stalls == 0
        hold_the_loop_with_a_synchronous_sleep(1.0)
        await until(lambda: watch.health().stalls == 1)
        await watch.stop()

    asyncio.run(scenario())
    lines = stall_lines(caplog)
    assert len(lines) == 2, lines
    first, second = lines
    assert "has not answered for 0.3 s" in first
    # The stack is the loop thread's, taken during the stall: it names the blocking call.
    assert "hold_the_loop_with_a_synchronous_sleep" in first
    assert "time.sleep(seconds)" in first
    assert second.startswith("event loop answered again after")
    health = watch.health()
    assert health.stalls == 1
    assert 0.9 <= health.longest_stall_s < 3.0


def test_a_loop_that_keeps_answering_is_never_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="services.loop_watch")
    watch = LoopWatch(stall_s=0.3, ask_every_s=0.05)

    async def scenario() -> None:
        await watch.start()
        # Busy, but in short steps that give the loop back: what every coroutine should do.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            hold_the_loop_with_a_synchronous_sleep(0.02)
            await asyncio.sleep(0)
        await watch.stop()

    asyncio.run(scenario())
    assert stall_lines(caplog) == []
    health = watch.health()
    assert health.stalls == 0
    assert health.longest_stall_s == 0.0
    assert health.lag_s < 0.3


def test_the_lag_shows_while_the_stall_lasts_and_stop_ends_the_thread() -> None:
    watch = LoopWatch(stall_s=0.2, ask_every_s=0.05)
    during: list[float] = []

    async def scenario() -> None:
        await watch.start()
        threads = threading.active_count()
        await watch.start()  # a second start is the same watch, not a second thread
        assert threading.active_count() == threads
        assert watch.running
        await asyncio.sleep(0.1)
        # Read from another thread while the loop is held, as a scrape can only be after it;
        # the gauge must already say the loop is late rather than show the last good answer.
        reader = threading.Timer(0.6, lambda: during.append(watch.health().lag_s))
        reader.start()
        hold_the_loop_with_a_synchronous_sleep(0.8)
        reader.join()
        await watch.stop()
        assert not watch.running

    asyncio.run(scenario())
    assert during and during[0] >= 0.5
