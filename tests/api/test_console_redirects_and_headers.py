"""Two console protections the rest of the suite touched only in passing: a login's ``next``
goes to a console path on this host and nowhere else (not ``//evil.example``, not
``/\\evil.example``, which browsers read as another host), and every console page, the
error pages too, carries the headers that keep it out of another site's frame (the gate's
open button) and keep the browser from guessing types."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_console import CSRF_FIELD, add_user, cookie_login

OFF_SITE = [
    "//evil.example/console",
    "/\\evil.example/console",
    "\\\\evil.example/console",
    "https://evil.example/console",
    "http:/evil.example",
    "/%2F%2Fevil.example",
    "javascript:alert(1)",
    " /console",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_a_login_goes_to_the_console_whatever_next_says(client: Any, target: str) -> None:
    add_user(client, "guard", "guard")
    token = CSRF_FIELD.search(client.get("/console/login").text)
    assert token is not None
    logged_in = client.post(
        "/console/login",
        data={"username": "guard", "password": "correct-horse", "csrf_token": token.group(1),
              "next": target},
        follow_redirects=False,
    )
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/console"
    # Already logged in, the login page sends the guard on at once: there too.
    again = client.get("/console/login", params={"next": target}, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/console"


def test_a_console_path_in_next_is_kept(client: Any) -> None:
    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    kept = client.get("/console/login", params={"next": "/console/history?page=2"},
                      follow_redirects=False)
    assert kept.headers["location"] == "/console/history?page=2"


def test_every_console_page_refuses_frames_and_sniffing(client: Any) -> None:
    add_user(client, "guard", "guard")
    pages = {"/console/login": 200}
    cookie_login(client, "guard", "guard")
    pages |= {"/console": 200, "/console/history": 200, "/console/fragments/alarms": 200,
              "/console/admin/users": 403, "/console/no-such-page": 404}
    for path, status in pages.items():
        page = client.get(path)
        assert page.status_code == status, path
        policy = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy, path
        assert page.headers["x-frame-options"] == "DENY", path
        assert page.headers["x-content-type-options"] == "nosniff", path
        assert page.headers["referrer-policy"] == "same-origin", path
