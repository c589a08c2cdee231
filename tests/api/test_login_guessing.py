"""Password guessing meets the same pause at the API token endpoint as at the console login,
and a name is one account however it is typed (case, full-width)."""

from __future__ import annotations

from typing import Any

from api.console.throttle import LoginThrottle
from tests.api.test_console import CSRF_FIELD, PASSWORD, add_user


def token(client: Any, username: str, password: str) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_api_logins_pause_after_repeated_failures_even_with_the_right_password(
    client: Any,
) -> None:
    add_user(client, "guard1", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=3, first_pause_s=30)
    for _ in range(3):
        assert token(client, "guard1", "wrong-password").status_code == 401
    paused = token(client, "guard1", PASSWORD)
    assert paused.status_code == 429
    assert 1 <= int(paused.headers["retry-after"]) <= 30
    assert "too many failed logins" in paused.json()["detail"]


def test_a_pause_for_one_user_leaves_another_user_free(client: Any) -> None:
    add_user(client, "guard1", "guard")
    add_user(client, "guard2", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=2)
    for _ in range(2):
        token(client, "guard1", "wrong-password")
    assert token(client, "guard1", PASSWORD).status_code == 429
    assert token(client, "guard2", PASSWORD).status_code == 200


def test_case_and_width_variants_share_one_count(client: Any) -> None:
    add_user(client, "guard1", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=2)
    token(client, "GUARD1", "wrong-password")
    token(client, "ｇｕａｒｄ１", "wrong-password")
    assert token(client, "guard1", PASSWORD).status_code == 429


def test_console_failures_pause_the_api_too(client: Any) -> None:
    """One throttle for both doors: a guesser paused at the page cannot go on at the API."""
    add_user(client, "guard1", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=2)
    csrf = CSRF_FIELD.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
    for _ in range(2):
        page = client.post(
            "/console/login",
            data={"username": "guard1", "password": "wrong-password", "csrf_token": csrf},
        )
        assert page.status_code == 401
    assert token(client, "guard1", PASSWORD).status_code == 429


def test_a_name_typed_in_another_case_logs_in_as_that_account(client: Any) -> None:
    add_user(client, "guard1", "guard")
    answer = token(client, "GUARD1", PASSWORD)
    assert answer.status_code == 200
    # The token names the stored account, not the spelling typed at the login.
    claims = client.app.state.services.signer.verify(answer.json()["access_token"])
    assert claims.username == "guard1"
    assert token(client, "GUARD1", "wrong-password").status_code == 401


def test_a_success_clears_the_count(client: Any) -> None:
    add_user(client, "guard1", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=2)
    token(client, "guard1", "wrong-password")
    assert token(client, "guard1", PASSWORD).status_code == 200
    token(client, "guard1", "wrong-password")
    assert token(client, "guard1", PASSWORD).status_code == 200
