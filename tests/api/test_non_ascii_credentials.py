"""A token, session cookie or CSRF value with non-ASCII bytes is a wrong one: 401/403 with a
message, never a 500 (found by schemathesis: ``hmac.compare_digest`` refuses non-ASCII str).
A browser holding a corrupted cookie still reaches the login page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import add_user

# Raw header bytes (é in UTF-8): how they arrive from a client that sends them.
BAD_SIGNATURE = b"Bearer a.\xc3\xa9"


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/households"),
    ("GET", "/api/v1/gates"),
    ("GET", "/api/v1/events/stream"),
    ("POST", "/api/v1/gates/main-in/actions"),
])
def test_a_bearer_token_with_non_ascii_bytes_is_refused(
    client: Any, method: str, path: str
) -> None:
    refused = client.request(method, path, headers={"Authorization": BAD_SIGNATURE},
                             json={"action": "open", "reason": "测试原因"})
    assert refused.status_code == 401 and refused.json()["detail"]


def test_the_public_guidance_ignores_such_a_token(client: Any) -> None:
    answer = client.get("/api/v1/guidance", params={"building": "1"},
                        headers={"Authorization": BAD_SIGNATURE})
    assert answer.status_code < 500, answer.text


def test_a_corrupted_session_cookie_still_leads_to_the_login_page(client: Any) -> None:
    cookie = {"Cookie": b"parkgate_session=a.\xc3\xa9"}
    page = client.get("/console", headers=cookie, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
    login = client.get("/console/login", headers=cookie)
    assert login.status_code == 200 and 'name="password"' in login.text
    token = client.post("/api/v1/auth/token", data={"username": "x", "password": "y"},
                        headers=cookie)
    assert token.status_code == 403 and "CSRF" in token.json()["detail"]


def test_a_csrf_token_with_non_ascii_bytes_is_refused(client: Any) -> None:
    token = add_user(client, "admin", "admin")
    client.cookies.set("parkgate_session", token)
    client.cookies.set("parkgate_csrf", "abc")
    refused = client.post("/api/v1/safety/fire-alarm", json={"reason": "演练"},
                          headers={"X-CSRF-Token": b"\xc3\xa9"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    form = client.post("/console/lang", data={"lang": "en", "csrf_token": "é"},
                       follow_redirects=False)
    assert form.status_code == 403
