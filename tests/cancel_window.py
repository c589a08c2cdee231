"""A cancellation that lands while an answer is on its way.

On Python 3.11 ``asyncio.wait_for`` returns a result that completes as its task is cancelled
and drops the cancellation; code that waited that way went on as if never cancelled (a stop
that never returned, a stream that streamed on, a command audited as done). The tests of each
place cancel a task 0 to 5 loop turns after its answer was sent, to land in that window."""

from __future__ import annotations

import asyncio
from typing import Any

ENDS_WITHIN_S = 10.0  # a task cancelled ends at once; this only bounds a hang


async def cancel_after_turns(task: asyncio.Task[Any], turns: int, what: str) -> bool:
    """Cancels ``task`` ``turns`` loop turns from now and waits for it to end. Returns whether
    it was still pending then, in which case it must have ended cancelled (asserted)."""
    for _ in range(turns):
        await asyncio.sleep(0)
    pending = task.cancel()
    done, _ = await asyncio.wait({task}, timeout=ENDS_WITHIN_S)
    assert task in done, f"{turns} turns: the {what} did not end"
    if pending:
        assert task.cancelled(), f"{turns} turns: the {what} ended {task!r}"
    return pending
