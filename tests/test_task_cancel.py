"""cancel_and_wait: a stop that is itself cancelled while it waits ends cancelled; a plain stop
returns; what the stopped task ends with is handled as ``await task`` handled it."""

from __future__ import annotations

import asyncio

import pytest

from task_cancel import cancel_and_wait
from tests.cancel_window import cancel_after_turns

pytestmark = pytest.mark.timeout(60)


class SlowToStop:
    """A task whose stop takes a while (a clean-up on its cancel), and notes how it ended."""

    def __init__(self, *, swallow_second_cancel: bool = False) -> None:
        self.cleaning = asyncio.Event()
        self.cleaned = False
        self._swallow = swallow_second_cancel

    async def run(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cleaning.set()
            if self._swallow:
                # A clean-up that cannot be cut short: the stopper's cancel, handed on to this
                # task by its await, is swallowed and the task returns.
                clean_up = asyncio.ensure_future(asyncio.sleep(0.2))
                try:
                    await asyncio.shield(clean_up)
                except asyncio.CancelledError:
                    await clean_up
                self.cleaned = True
                return
            await asyncio.sleep(30)  # cut short by the stopper's cancel, handed on
            self.cleaned = True
            raise


@pytest.mark.parametrize("swallow", [False, True], ids=["task-cut-short", "task-swallows"])
def test_a_stop_cancelled_while_it_waits_ends_cancelled(swallow: bool) -> None:
    """The caller is cancelled 0-5 loop turns after the task began its clean-up: it ends
    cancelled and does not go on past the stop (the old suppress went on)."""

    async def main() -> None:
        for turns in range(6):
            slow = SlowToStop(swallow_second_cancel=swallow)
            task = asyncio.create_task(slow.run())
            await asyncio.sleep(0)  # the task waits
            went_on: list[int] = []

            async def stopper(went_on: list[int] = went_on, task: asyncio.Task[None] = task,
                              turns: int = turns) -> None:
                await cancel_and_wait(task)
                went_on.append(turns)

            stopping = asyncio.create_task(stopper())
            async with asyncio.timeout(10):
                await slow.cleaning.wait()
            assert await cancel_after_turns(stopping, turns, "stop"), f"{turns} turns: too late"
            assert went_on == [], f"{turns} turns: the caller went on after its cancel"
            if not task.done():  # the swallowed one ends its clean-up on its own
                await asyncio.wait({task}, timeout=10)
            assert task.done() and slow.cleaned == swallow

    asyncio.run(main())


def test_a_plain_stop_returns_and_stops_every_task() -> None:
    async def main() -> None:
        # The stop waits for each task's own end, a clean-up included.
        slow = SlowToStop(swallow_second_cancel=True)
        tasks = [asyncio.create_task(slow.run()), asyncio.create_task(asyncio.sleep(30))]
        await asyncio.sleep(0)
        await cancel_and_wait(*tasks)
        assert slow.cleaned and all(t.done() for t in tasks)
        assert tasks[1].cancelled()
        await cancel_and_wait(*tasks)  # stopping again: already ended, nothing raised
        await cancel_and_wait()  # nothing to stop

    asyncio.run(main())


def test_a_stop_timed_out_from_outside_ends_with_the_time_out() -> None:
    """asyncio.timeout around a stop (a shutdown's time limit) counts its cancel the same way:
    the stop ends at the limit with TimeoutError instead of finishing late."""

    async def main() -> None:
        slow = SlowToStop()
        task = asyncio.create_task(slow.run())
        await asyncio.sleep(0)
        went_on = False
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):
                await cancel_and_wait(task)
                went_on = True
        assert not went_on and task.cancelled()

    asyncio.run(main())


def test_what_a_task_ends_with_is_raised_as_before() -> None:
    async def fails_on_cancel() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("clean-up failed") from None

    async def failed() -> None:
        raise ValueError("failed before the stop")

    async def returns() -> int:
        await asyncio.sleep(0)
        return 1

    async def main() -> None:
        task = asyncio.create_task(fails_on_cancel())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="clean-up failed"):
            await cancel_and_wait(task)
        done = asyncio.create_task(failed())
        await asyncio.sleep(0)
        with pytest.raises(ValueError, match="before the stop"):
            await cancel_and_wait(done)
        finished = asyncio.create_task(returns())
        await asyncio.sleep(0.01)
        await cancel_and_wait(finished)  # ended before the stop: its result is no error

    asyncio.run(main())


def test_a_stop_in_a_finally_after_a_cancel_still_stops_everything() -> None:
    """The owner was cancelled and stops its tasks in its finally: that earlier cancel does not
    cut the stop short (only one that lands during the wait does)."""

    async def main() -> None:
        tasks = [asyncio.create_task(asyncio.Event().wait()) for _ in range(2)]
        stopped: list[str] = []

        async def owner() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                await cancel_and_wait(tasks[0])
                await cancel_and_wait(tasks[1])
                stopped.append("all")

        running = asyncio.create_task(owner())
        await asyncio.sleep(0)
        running.cancel()
        await asyncio.wait({running}, timeout=10)
        assert running.cancelled()
        assert stopped == ["all"] and all(t.cancelled() for t in tasks)

    asyncio.run(main())
