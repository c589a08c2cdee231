"""The console login checks the name with its surrounding spaces removed, so the throttle
counts it that way too: " guard1" and "guard1 " are guesses at guard1, not fresh names
with five tries each (which let a guesser through the pause at argon2 speed)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.console.throttle import LoginThrottle
from tests.api.test_console import PASSWORD, add_staff
from tests.api.test_login_during_outage import login_form


def test_padding_the_name_with_spaces_does_not_escape_the_pause(client: Any) -> None:
    add_staff(client.app.state.services, "guard", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=3, first_pause_s=30)
    browser = TestClient(client.app)
    for typed in ("guard", " guard", "guard\t"):
        assert login_form(browser, typed, "wrong-horse").status_code == 401, repr(typed)

    for typed in ("guard", "  guard", "guard  ", "\u3000guard"):
        paused = login_form(browser, typed, PASSWORD)  # the right password, too late
        assert paused.status_code == 429, repr(typed)
        assert "parkgate_session" not in browser.cookies


def test_a_padded_name_still_logs_in_when_not_paused(client: Any) -> None:
    add_staff(client.app.state.services, "guard", "guard")
    browser = TestClient(client.app)
    done = login_form(browser, " guard ", PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/console"
