"""A client that keeps trying through a login pause is one warning a pause, not one a try.
Measured in the log-volume walk: a wrong password posted every 2 s was refused (429) and
logged at WARNING each time, 52 lines in 2 minutes, 43,200 a day for one client, while the
pause it ran into was one fact. The first refusal of each pause is a warning saying how long
the pause is; the rest of it is DEBUG; the next pause (after the next failure) is a new
warning. Both doors (API token, console form)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from api.console.throttle import LoginThrottle
from tests.api.test_console import CSRF_FIELD
from tests.conftest import add_user

ADDRESS = "testclient"


def throttled_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == level and "throttled" in r.getMessage()]


def test_api_login_refusals_are_one_warning_a_pause(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(client, "guard1", "guard")
    now = [1000.0]
    client.app.state.login_throttle = LoginThrottle(max_failures=2, first_pause_s=30,
                                                    clock=lambda: now[0])
    caplog.set_level(logging.DEBUG, logger="api.routes.auth")
    wrong = {"username": "guard1", "password": "wrong-password"}

    def tries(n: int) -> list[int]:
        answers = []
        for _ in range(n):
            answers.append(client.post("/api/v1/auth/token", data=wrong).status_code)
            now[0] += 2
        return answers

    assert tries(2) == [401, 401]
    assert tries(10) == [429] * 10
    warnings = throttled_lines(caplog, logging.WARNING)
    assert len(warnings) == 1, warnings
    assert "for 'guard1' from testclient throttled, refused for 28 s more" in warnings[0]
    assert len(throttled_lines(caplog, logging.DEBUG)) == 9
    # The pause ends; the next try fails and starts a longer pause: a new warning.
    now[0] += 30
    assert tries(1) == [401]
    assert tries(3) == [429] * 3
    warnings = throttled_lines(caplog, logging.WARNING)
    assert len(warnings) == 2 and "refused for 58 s more" in warnings[1], warnings


def test_console_login_refusals_are_one_warning_a_pause(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    add_user(client, "guard1", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=1, first_pause_s=30)
    caplog.set_level(logging.INFO, logger="api.console.routes")
    token = CSRF_FIELD.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
    form = {"username": "guard1", "password": "wrong-password", "csrf_token": token}
    answers = [client.post("/console/login", data=form).status_code for _ in range(6)]
    assert answers == [401] + [429] * 5
    warnings = throttled_lines(caplog, logging.WARNING)
    assert len(warnings) == 1 and "console login for 'guard1'" in warnings[0], warnings


@pytest.mark.parametrize(("steps", "expected"), [
    # (seconds after the start, wait the pause has left) -> which refusal of its pause
    ([(0, 30), (2, 28), (29, 1)], [1, 2, 3]),
    ([(0, 30), (31, 60), (33, 58)], [1, 1, 2]),  # a new pause once the first has ended
])
def test_refusals_are_counted_per_pause(steps: list[tuple[float, float]],
                                        expected: list[int]) -> None:
    now = [0.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    counts = []
    for at, wait in steps:
        now[0] = at
        counts.append(throttle.refused(ADDRESS, "Guard1", wait))
    assert counts == expected
    now[0] = 0
    assert throttle.refused(ADDRESS, "other", 30) == 1  # each name its own pause
