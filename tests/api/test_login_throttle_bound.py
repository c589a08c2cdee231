"""The login throttle's memory stays bounded over months of logins and guessing (found by
bench.soak's reading of what only ever grows): keys are an address and a name, so a guesser
trying a new address or name each time, and every address a login came from, must not be
kept for ever."""

from __future__ import annotations

from api.console.throttle import LoginThrottle


def test_a_guesser_at_ever_new_addresses_is_forgotten_after_the_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(max_failures=3, window_s=60, clock=lambda: now[0],
                             first_pause_s=10, max_keys=200)
    for i in range(5_000):  # one wrong password a second, each from a new address
        now[0] += 1
        address = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        assert throttle.retry_after(address, f"user{i}") == 0
        throttle.failed(address, f"user{i}")
        # Two keys per failure (120 in the window); the older go once max_keys is passed.
        assert throttle.keys_held() <= 200 + 2
    # What is forgotten is only what the window no longer counts: a live guesser still waits.
    for _ in range(3):
        throttle.failed("10.9.9.9", "guard")
    assert throttle.retry_after("10.9.9.9", "guard") == 10


def test_logins_that_never_fail_leave_nothing_behind() -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0], max_keys=100)
    for i in range(1_000):  # guards and API clients logging in from many addresses
        now[0] += 1
        address = f"192.168.{i // 256}.{i % 256}"
        assert throttle.retry_after(address, "guard1") == 0
        throttle.succeeded(address, "guard1")
    assert throttle.keys_held() == 0
