"""Slows password guessing at the console login: a few failures per user and address, then
a pause. In memory, per process: enough for a booth controller with one worker."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 5
WINDOW_S = 300.0


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0:
            raise ValueError(
                f"LoginThrottle needs max_failures >= 1 and window_s > 0, "
                f"got {max_failures} and {window_s}"
            )
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self._window:
            times.popleft()
        return times

    def retry_after(self, address: str, username: str) -> float:
        """Seconds to wait before another attempt is allowed; 0 when it is allowed now."""
        now = self._clock()
        with self._lock:
            times = self._recent((address, username.lower()), now)
            if len(times) < self._max:
                return 0.0
            return max(0.0, self._window - (now - times[0]))

    def failed(self, address: str, username: str) -> None:
        now = self._clock()
        with self._lock:
            self._recent((address, username.lower()), now).append(now)
            if len(self._failures) > 10_000:  # forget quiet keys rather than grow forever
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, username.lower()), None)
