"""Logging out of the console ends the session on the server, not only in this browser.

The session token is renewed on every page, each copy valid until its own expiry; log-out
only cleared the browser's cookie, so a copy taken before it (read off a booth LAN without
TLS) kept working after the guard logged out, and renewed itself on every page it opened.
Through the real login form and the real app."""

from __future__ import annotations

import time
from typing import Any

from api.console.security import SESSION_COOKIE
from tests.api.test_console import add_user, console_login, csrf_of


def _holding(client: Any, session_cookie: str) -> Any:
    """Another browser holding a copy of ``session_cookie``."""
    from fastapi.testclient import TestClient

    other = TestClient(client.app)
    other.cookies.set(SESSION_COOKIE, session_cookie)
    return other


def test_a_copy_of_the_session_taken_before_logout_is_refused_after_it(client: Any) -> None:
    add_user(client, "guard", "guard")
    csrf = console_login(client, "guard")
    first_copy = client.cookies[SESSION_COOKIE]
    time.sleep(1.1)  # a later expiry, so the renewed token differs from the first
    # Pages renew the cookie; a copy of any of them belongs to the same session.
    csrf = csrf_of(client.get("/console").text)
    latest_copy = client.cookies[SESSION_COOKIE]
    assert latest_copy != first_copy
    assert _holding(client, first_copy).get("/api/v1/passages").status_code == 200

    bye = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert bye.status_code == 303

    for copy in (first_copy, latest_copy):
        thief = _holding(client, copy)
        page = thief.get("/console", follow_redirects=False)
        assert page.status_code == 303 and "/console/login" in page.headers["location"]
        api = thief.get("/api/v1/passages")
        assert api.status_code == 401 and "logged out" in api.json()["detail"]
        assert thief.post("/console/keepalive").status_code == 401
        bearer = client.get("/api/v1/passages", headers={"Authorization": f"Bearer {copy}"})
        assert bearer.status_code == 401


def test_logging_in_again_is_a_new_session_that_works(client: Any) -> None:
    add_user(client, "guard", "guard")
    csrf = console_login(client, "guard")
    client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    console_login(client, "guard")
    assert client.get("/api/v1/passages").status_code == 200


def test_one_sessions_logout_leaves_the_others_and_api_tokens(client: Any) -> None:
    from fastapi.testclient import TestClient

    token = add_user(client, "guard", "guard")  # an API token (no console session)
    other_booth = TestClient(client.app)  # the same account in a second browser
    console_login(other_booth, "guard")
    csrf = console_login(client, "guard")
    client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert other_booth.get("/console", follow_redirects=False).status_code == 200
    api = client.get("/api/v1/passages", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
