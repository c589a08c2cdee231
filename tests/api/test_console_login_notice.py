"""What the login form says about how the guard got there: "away too long" only after the
page's own idle log-out; a session found gone for any other reason (a token past its time,
a cookie cleared, a new signing key) gets a plain "log in again", since nothing tells why."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.api.test_console import add_user, cookie_login

IDLE = "长时间未操作，已自动退出，请重新登录"
ENDED = "登录已过期，请重新登录"
BYE = "已退出登录"


def notice_of(html: str) -> str | None:
    match = re.search(r'<p class="notice">([^<]*)</p>', html)
    return match.group(1) if match else None


@pytest.mark.parametrize(("query", "notice"), [
    ("?idle=1&next=/console", IDLE),
    ("?expired=1&next=/console", ENDED),
    ("?expired=1", ENDED),
    ("?bye=1", BYE),
    ("", None),
])
def test_the_login_notice_says_only_what_is_known(
    client: Any, query: str, notice: str | None
) -> None:
    page = client.get(f"/console/login{query}")
    assert page.status_code == 200
    assert notice_of(page.text) == notice


def idle_log_out(client: Any, csrf: str) -> str:
    """What common.js posts when no input came for idle_minutes; the redirect's target."""
    out = client.post("/console/logout", data={"csrf_token": csrf, "idle": "1",
                                               "next": "/console/history"},
                      follow_redirects=False)
    assert out.status_code == 303
    client.cookies.clear()  # set by hand (cookie_login): the response's deletion misses it
    return str(out.headers["location"])


def test_each_way_out_leads_to_its_own_notice(client: Any) -> None:
    add_user(client, "guard", "guard")

    # The page's own idle time-out: the guard was away, and comes back to that page.
    target = idle_log_out(client, cookie_login(client, "guard", "guard"))
    assert target == "/console/login?idle=1&next=/console/history"
    assert notice_of(client.get(target).text) == IDLE

    # A session token past its time, still sent by the browser: found gone, reason unknown.
    stale = client.app.state.console_security.signer.issue("guard", "guard",
                                                           now=time.time() - 3600)
    client.cookies.set("parkgate_session", stale)
    page = client.get("/console/history", follow_redirects=False)
    assert page.headers["location"] == "/console/login?next=/console/history&expired=1"
    assert notice_of(client.get(page.headers["location"]).text) == ENDED

    # A token signed with another key (the server's key was replaced): the same.
    from api.console.config import ConsoleConfig
    from api.console.security import ConsoleSecurity

    other = ConsoleSecurity("another-signing-key-" + "x" * 32, ConsoleConfig()).signer
    client.cookies.set("parkgate_session", other.issue("guard", "guard"))
    page = client.get("/console", follow_redirects=False)
    assert "expired=1" in page.headers["location"]
    assert notice_of(client.get(page.headers["location"]).text) == ENDED

    # No cookie at all (cleared, or never logged in): the form, without a notice.
    client.cookies.clear()
    page = client.get("/console", follow_redirects=False)
    assert "expired" not in page.headers["location"] and "idle" not in page.headers["location"]
    assert notice_of(client.get(page.headers["location"]).text) is None


def test_the_session_dialog_leads_to_the_plain_notice(client: Any) -> None:
    """The 「登录已过期」 dialog's 重新登录 (base.html) and common.js's fallback both use
    expired=1: an action was refused for a session found gone, idle or not."""
    add_user(client, "guard", "guard")
    cookie_login(client, "guard", "guard")
    page = client.get("/console").text
    link = re.search(r'id="session-login"\s+href="([^"]+)"', page)
    assert link is not None
    target = link.group(1).replace("&amp;", "&")
    assert target == "/console/login?expired=1&next=/console"
    client.cookies.clear()
    assert notice_of(client.get(target).text) == ENDED
