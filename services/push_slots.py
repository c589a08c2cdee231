"""A process-wide bound on camera pushes whose images are decoded and held at the same time."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from errors import BusyError

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Refusals less than this apart belong to one overload episode: one WARNING when it begins,
# one summary when pushes are served again, rather than a line per refused push.
EPISODE_QUIET_S = 60.0


def retry_after_s(wait_s: float) -> int:
    """The Retry-After of a refusal: the slots stayed busy that long, so ask for about as long
    (whole seconds, at least one, as the header wants)."""
    return max(1, math.ceil(wait_s))


class PushSlots:
    """At most ``limit`` pushes of one kind run their image work at once; one more waits up to
    ``wait_s`` for a slot and is then refused with :class:`BusyError` (HTTP 503).

    ``what`` names the pushes, ``setting`` and ``wait_setting`` the two settings, for the
    refusal and the log.
    """

    def __init__(
        self,
        limit: int,
        wait_s: float,
        *,
        what: str,
        setting: str,
        wait_setting: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if wait_s <= 0:
            raise ValueError(f"wait_s must be positive, got {wait_s}")
        self._semaphore = asyncio.Semaphore(limit)
        self._limit = limit
        self._wait_s = wait_s
        self._what = what
        self._setting = setting
        self._wait_setting = wait_setting
        self._clock = clock
        self._busy = 0
        self._waiting = 0
        self._refused = 0  # in the current episode; 0: none is going on
        self._episode_start = 0.0
        self._last_refusal = 0.0

    @property
    def busy(self) -> int:
        """Slots taken now, including those of abandoned work still running in its thread."""
        return self._busy

    @property
    def waiting(self) -> int:
        """Pushes waiting for a slot now."""
        return self._waiting

    async def run(self, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``func`` in a worker thread once a slot is free; the slot is held until it returns.

        Everything that holds the decoded images belongs inside ``func``: the slot is what
        bounds their memory.
        """
        await self._acquire()
        work = asyncio.ensure_future(asyncio.to_thread(func, *args, **kwargs))
        try:
            return await asyncio.shield(work)
        finally:
            if work.done():
                self._release()
            else:
                # Cancelled (the camera hung up): a thread cannot be stopped and keeps its
                # images until it ends, so only then may another push take the slot.
                work.add_done_callback(self._release_abandoned)

    async def _acquire(self) -> None:
        self._waiting += 1
        try:
            async with asyncio.timeout(self._wait_s):
                await self._semaphore.acquire()
        except TimeoutError:
            raise self._refusal() from None
        finally:
            self._waiting -= 1
        self._busy += 1
        if self._refused and self._clock() - self._last_refusal >= EPISODE_QUIET_S:
            self._end_episode()

    def _release(self) -> None:
        self._busy -= 1
        self._semaphore.release()

    def _release_abandoned(self, work: asyncio.Future[Any]) -> None:
        self._release()
        if not work.cancelled() and work.exception() is not None:
            # Nobody is left to answer; retrieving it keeps asyncio from logging it as lost.
            logger.debug("%s abandoned by its caller failed: %s", self._what, work.exception())

    def _refusal(self) -> BusyError:
        now = self._clock()
        if self._refused and now - self._last_refusal >= EPISODE_QUIET_S:
            self._end_episode()
        if not self._refused:
            self._episode_start = now
            logger.warning(
                "%s refused with 503: all %d slots (%s) stayed busy for %g s (%s); "
                "further refusals are counted until none come for %g s",
                self._what, self._limit, self._setting, self._wait_s, self._wait_setting,
                EPISODE_QUIET_S,
            )
        self._refused += 1
        self._last_refusal = now
        return BusyError(
            f"{self._what}: all {self._limit} slots ({self._setting}) stayed busy for "
            f"{self._wait_s:g} s ({self._wait_setting}); send it again shortly",
            retry_after_s=retry_after_s(self._wait_s),
        )

    def _end_episode(self) -> None:
        logger.info(
            "%s: the overload is over, %d refused for lack of a slot (%s) within %.0f s",
            self._what, self._refused, self._setting,
            self._last_refusal - self._episode_start,
        )
        self._refused = 0
