"""PushSlots, the bound shared by camera pushes: a caller that hangs up frees its slot only when
its thread is done with the images; refusals log once per episode, not once per push."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

import pytest

from errors import BusyError
from services.push_slots import EPISODE_QUIET_S, PushSlots, retry_after_s


def slots(limit: int, wait_s: float, clock: Callable[[], float] | None = None) -> PushSlots:
    extra = {"clock": clock} if clock is not None else {}
    return PushSlots(limit, wait_s, what="test pushes", setting="api.max_concurrent_bursts",
                     wait_setting="api.burst_wait_s", **extra)


class Blocker:
    """Thread work that holds its slot until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.entered.set()
        assert self.release.wait(30)
        return "done"


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):
        while not condition():
            await asyncio.sleep(0.001)


def test_a_cancelled_caller_frees_its_slot_only_when_its_thread_is_done() -> None:
    async def scenario() -> None:
        bound = slots(1, 0.05)
        work = Blocker()
        caller = asyncio.ensure_future(bound.run(work))
        await asyncio.to_thread(work.entered.wait, 30)
        caller.cancel()  # the camera hung up while its frames were being checked
        with pytest.raises(asyncio.CancelledError):
            await caller
        assert bound.busy == 1  # the thread still holds the images
        with pytest.raises(BusyError):
            await bound.run(lambda: "next")
        work.release.set()
        await _until(lambda: bound.busy == 0)
        assert await bound.run(lambda: "next") == "next"

    asyncio.run(scenario())


def test_a_caller_cancelled_while_waiting_takes_no_slot() -> None:
    async def scenario() -> None:
        bound = slots(1, 30)
        work = Blocker()
        holder = asyncio.ensure_future(bound.run(work))
        await asyncio.to_thread(work.entered.wait, 30)
        waiter = asyncio.ensure_future(bound.run(lambda: "never"))
        await _until(lambda: bound.waiting == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (bound.busy, bound.waiting) == (1, 0)
        work.release.set()
        assert await holder == "done"
        assert bound.busy == 0
        assert await bound.run(lambda: "next") == "next"

    asyncio.run(scenario())


def test_errors_in_the_work_reach_the_caller_and_free_the_slot() -> None:
    def broken() -> None:
        raise ValueError("corrupt frame")

    async def scenario() -> None:
        bound = slots(1, 0.05)
        with pytest.raises(ValueError, match="corrupt frame"):
            await bound.run(broken)
        assert bound.busy == 0
        assert await bound.run(lambda: "next") == "next"

    asyncio.run(scenario())


def test_a_refusal_names_the_settings_and_when_to_retry() -> None:
    async def scenario() -> BusyError:
        bound = slots(1, 0.05)
        work = Blocker()
        holder = asyncio.ensure_future(bound.run(work))
        await asyncio.to_thread(work.entered.wait, 30)
        try:
            with pytest.raises(BusyError) as info:
                await bound.run(lambda: None)
        finally:
            work.release.set()
            await holder
        return info.value

    refusal = asyncio.run(scenario())
    assert refusal.retry_after_s == 1
    assert str(refusal) == (
        "test pushes: all 1 slots (api.max_concurrent_bursts) stayed busy for 0.05 s "
        "(api.burst_wait_s); send it again shortly"
    )


@pytest.mark.parametrize(("wait_s", "expected"), [(0.05, 1), (1.0, 1), (2.0, 2), (2.5, 3)])
def test_retry_after_is_the_wait_in_whole_seconds(wait_s: float, expected: int) -> None:
    assert retry_after_s(wait_s) == expected


def test_refusals_log_one_warning_per_episode_and_a_summary_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    caplog.set_level(logging.INFO, logger="services.push_slots")

    async def scenario() -> None:
        bound = slots(1, 0.01, clock=lambda: now[0])
        work = Blocker()
        holder = asyncio.ensure_future(bound.run(work))
        await asyncio.to_thread(work.entered.wait, 30)
        for _ in range(3):
            with pytest.raises(BusyError):
                await bound.run(lambda: None)
            now[0] += 10
        now[0] += EPISODE_QUIET_S
        with pytest.raises(BusyError):  # a new episode, after a quiet minute
            await bound.run(lambda: None)
        work.release.set()
        await holder
        now[0] += EPISODE_QUIET_S
        await bound.run(lambda: None)  # served again: the second episode is summarised

    asyncio.run(scenario())
    logged = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in logged] == ["WARNING", "INFO", "WARNING", "INFO"]
    assert "all 1 slots (api.max_concurrent_bursts) stayed busy" in logged[0][1]
    assert "the overload is over, 3 refused" in logged[1][1] and "within 20 s" in logged[1][1]
    assert "1 refused" in logged[3][1]


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        slots(0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        slots(1, 0)
