"""Stopping a background task without losing the stopper's own cancellation.

``task.cancel()`` then ``with suppress(CancelledError): await task`` cannot tell the task's
CancelledError (the one asked for) from the caller's: a shutdown that is itself cancelled
while it waits (a second Ctrl-C, a time-out around the shutdown) had that cancel swallowed and
went on stopping, or returned as if it had finished."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any]) -> None:
    """Cancels ``tasks`` and waits for each to end, in order.

    The tasks' own CancelledError is suppressed; an exception a task ends with is raised, as
    ``await task`` raises it. CancelledError is raised when the calling task was cancelled
    while it waited here, also when the task being waited for swallowed that cancel and
    returned (``await task`` hands the caller's cancel on to the task it waits for). A caller
    already being cancelled when it came here (a stop in a ``finally`` after a cancel) is
    not stopped by that earlier cancel: only one that lands during the wait counts, as
    ``asyncio.timeout`` counts them."""
    for task in tasks:
        task.cancel()
    current = asyncio.current_task()
    before = current.cancelling() if current is not None else 0
    for task in tasks:
        try:
            await task
        except asyncio.CancelledError:
            if current is not None and current.cancelling() > before:
                raise
        else:
            if current is not None and current.cancelling() > before:
                raise asyncio.CancelledError
