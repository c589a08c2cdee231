"""Notices when the event loop stops answering, and says what held it.

Every gate decision, barrier command and console update goes through the one event loop; work
that blocks it (a slow disk under a synchronous write, a query run on the loop by mistake, a
CPU-bound step) holds every gate at once while it lasts. Such a stall leaves no trace of its
own: the loop cannot log while it is stuck, and afterwards nothing says where it was.

A thread of its own therefore asks the loop for an answer a few times a second. When none
comes within ``STALL_S``, it logs the loop thread's stack at that moment (what is running, not
a guess) and, once the loop answers, how long it was stuck. The count and the longest stall go
to /metrics, so an operator can alert on a controller whose loop stalls.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# A barrier that waits a second for its command is one a driver notices; shorter gaps (a
# garbage collection, a busy moment on a 2-core box) are not worth a log line.
STALL_S = 1.0
# How often the loop is asked: the lag gauge's resolution, at ~a microsecond of loop time each.
ASK_EVERY_S = 0.25
# Innermost frames logged: enough to name the blocking call and who made it.
STACK_FRAMES = 12


@dataclass(frozen=True, slots=True)
class LoopHealth:
    """What /metrics shows of the loop."""

    # The last answer's delay (the current stall's length while in one). Counted from the
    # question, which may come after a stall began: a stall is at least this long.
    lag_s: float
    stalls: int  # answers later than STALL_S since start
    longest_stall_s: float


class LoopWatch:
    """A background component (``start``/``stop`` on the loop it watches)."""

    def __init__(
        self,
        *,
        stall_s: float = STALL_S,
        ask_every_s: float = ASK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stall_s = stall_s
        self.ask_every_s = ask_every_s
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lag_s = 0.0
        self._stalled_since: float | None = None
        self._stalls = 0
        self._longest_s = 0.0

    def health(self) -> LoopHealth:
        lag = self._lag_s
        since = self._stalled_since
        if since is not None:
            lag = max(lag, self._clock() - since)
        return LoopHealth(lag, self._stalls, self._longest_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="loop-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        # Off the loop: the thread may be waiting for this loop's answer to its last question.
        await asyncio.to_thread(thread.join, self.stall_s + 1.0)
        if thread.is_alive():
            logger.warning("event loop watch did not stop within %.1f s", self.stall_s + 1.0)
            return
        self._thread = None

    # -- the watching thread -----------------------------------------------------------------
    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        while not self._stopping.is_set():
            answered = threading.Event()
            asked = self._clock()
            try:
                loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop was closed under us: nothing left to watch
                return
            if not answered.wait(self.stall_s):
                self._stalled_since = asked
                self._report_stall()
                while not answered.wait(self.ask_every_s):
                    if self._stopping.is_set():
                        return
                self._stalled_since = None
                self._end_stall(self._clock() - asked)
            else:
                self._lag_s = self._clock() - asked
            self._stopping.wait(self.ask_every_s)

    def _report_stall(self) -> None:
        frame = sys._current_frames().get(self._loop_thread or 0)
        stack = "".join(traceback.format_stack(frame)[-STACK_FRAMES:]) if frame else "?"
        logger.warning(
            "event loop has not answered for %.1f s: gates, barriers and consoles wait "
            "meanwhile; it is running:\n%s",
            self.stall_s, stack.rstrip(),
            extra={"stall_s": self.stall_s},
        )

    def _end_stall(self, length_s: float) -> None:
        self._lag_s = length_s
        self._stalls += 1
        self._longest_s = max(self._longest_s, length_s)
        logger.warning(
            "event loop answered again after %.1f s", length_s, extra={"stall_s": length_s}
        )
