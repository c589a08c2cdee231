"""Slows password guessing at both logins (console page and API token): a few failures per
user and address, then a pause that doubles with each further failure, up to the window.
In memory, per process (enough for a booth controller with one worker), seeded at start
from the failed logins of the last window in the audit log. A user is counted by
the folded name the login matches (``username_key``), so "GUARD1" and "guard1" share a count.

A short first pause (30 s) rather than the whole window: at a shared booth PC a colleague's
typos must not lock the shift guard out for minutes, while a guesser still gets only a
handful of tries per window (5, then 1 after 30 s, 60 s, 120 s, ...). One address is also
paused after 30 failures at any names in the window, in the same steps.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fastapi import Request

from models.people import username_key

MAX_FAILURES = 5
WINDOW_S = 300.0
FIRST_PAUSE_S = 30.0
# Failures from one address at any names: a guesser trying a new name each time met no pause
# at all (and every attempt is an argon2 run and an audit row). A booth PC where several
# guards mistype now and then stays far below this.
MAX_ADDRESS_FAILURES = 30
# Keys (an address and a name, an address alone) held before the quiet ones are forgotten:
# a guesser trying a new address or name each time must not grow the process for ever.
MAX_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class Failure:
    pause_s: float  # the pause this failure starts; 0: the next try is allowed now
    # The failures from the address when this one paused it at any names; 0 otherwise.
    address_paused_at: int


class LoginThrottle:
    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        first_pause_s: float = FIRST_PAUSE_S,
        max_address_failures: int = MAX_ADDRESS_FAILURES,
        max_keys: int = MAX_KEYS,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or first_pause_s <= 0:
            raise ValueError(
                f"LoginThrottle needs max_failures >= 1, window_s > 0 and first_pause_s > 0, "
                f"got {max_failures}, {window_s} and {first_pause_s}"
            )
        self._max = max_failures
        self._max_address = max(max_address_failures, max_failures)
        self._window = window_s
        self._first_pause = min(first_pause_s, window_s)
        self._clock = clock
        self._max_keys = max_keys
        self._failures: dict[tuple[str, str], deque[float]] = {}
        # (address, folded name) -> (when the pause refusing it ends, refusals in it so far)
        self._refusals: dict[tuple[str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        return self._prune(self._failures.setdefault(key, deque()), now)

    def _prune(self, times: deque[float], now: float) -> deque[float]:
        while times and now - times[0] > self._window:
            times.popleft()
        return times

    def keys_held(self) -> int:
        """Keys held: those with a failure in the window, at most (quiet ones are forgotten
        once there are ``max_keys``)."""
        return len(self._failures)

    def _keys(
        self, address: str, username: str
    ) -> tuple[tuple[tuple[str, str], int], tuple[tuple[str, str], int]]:
        # The whole address has a key of its own: "\0" is no folded username.
        return (((address, username_key(username)), self._max),
                ((address, "\0"), self._max_address))

    def _pause(self, times: deque[float], limit: int) -> float:
        if len(times) < limit:
            return 0.0
        return min(self._window, self._first_pause * 2 ** (len(times) - limit))

    def retry_after(self, address: str, username: str) -> float:
        """Seconds to wait before another attempt is allowed; 0 when it is allowed now."""
        now = self._clock()
        with self._lock:
            waits = [0.0]
            for key, limit in self._keys(address, username):
                # Read only: an attempt that fails nothing (most logins) leaves no key behind.
                times = self._prune(self._failures.get(key, deque()), now)
                if times:
                    waits.append(self._pause(times, limit) - (now - times[-1]))
            return max(waits)

    def failed(self, address: str, username: str) -> Failure:
        """Counts a failure: the pause it starts, which the audit log records, and whether it
        paused the whole address, which the guards are told of."""
        now = self._clock()
        with self._lock:
            (user, user_limit), (whole, address_limit) = self._keys(address, username)
            user_times, address_times = self._recent(user, now), self._recent(whole, now)
            user_times.append(now)
            address_times.append(now)
            pause = max(self._pause(user_times, user_limit),
                        self._pause(address_times, address_limit))
            if len(self._failures) > self._max_keys:
                # Forget the keys with no failure left in the window. Their times are dropped
                # only when the key is asked about again, so a key a guesser never came back
                # to still holds its old failure: judge by the newest one, not by emptiness
                # (which forgot only the keys of logins that never failed, and the dict grew
                # by two keys with every new address or name a guesser tried).
                for key in [k for k, v in self._failures.items()
                            if not v or now - v[-1] > self._window]:
                    del self._failures[key]
            # The address reaches its limit once per window: the one failure that says so.
            paused_at = len(address_times) if len(address_times) == address_limit else 0
            return Failure(pause, paused_at)

    def replay(self, failures: Iterable[tuple[str, str, float]]) -> None:
        """Count failures from before this process started, each (address, name as typed,
        seconds ago), oldest first: the audit log keeps them, so a restart forgets nothing."""
        now = self._clock()
        with self._lock:
            for address, username, age_s in failures:
                for key, _ in self._keys(address, username):
                    self._recent(key, now).append(now - max(0.0, age_s))

    def refused(self, address: str, username: str, wait_s: float) -> int:
        """Counts an attempt refused for ``wait_s`` more seconds: the how-manieth of its pause
        (1 for the first). A client that keeps trying through a pause is refused every few
        seconds for as long as it goes on; the first refusal is the log line worth having
        (the walk measured a warning every 2 s, 43,200 a day for one client)."""
        now = self._clock()
        key = (address, username_key(username))
        with self._lock:
            ends_at, count = self._refusals.get(key, (0.0, 0))
            if now >= ends_at:
                ends_at, count = now + wait_s, 0
            self._refusals[key] = (ends_at, count + 1)
            if len(self._refusals) > self._max_keys:
                for old in [k for k, (end, _) in self._refusals.items() if end <= now]:
                    del self._refusals[old]
            return count + 1

    def succeeded(self, address: str, username: str) -> None:
        with self._lock:
            self._failures.pop((address, username_key(username)), None)


def login_throttle(request: Request) -> LoginThrottle:
    """The app's one throttle, shared by the console login and the API token endpoint, so a
    guesser cannot move to the other door when one pauses him."""
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle
