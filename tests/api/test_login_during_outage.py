"""A guard can log back in while the database is down.

The booth page logs itself out after 15 idle minutes, and logging in read the user row: a
guard who left the page alone during an outage was locked out of the gate strip for the rest
of it, when the gates need a human most. Now a login during an outage is checked against the
account as this process last saw it active (its argon2 hash and role, in memory only), with
the same throttle, session cookie and CSRF; an account never seen active here, or deactivated
when last seen, cannot log in then. The database really goes away (tests/db_outage.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from api.console.throttle import LoginThrottle
from models.db import transaction
from models.people import User
from services.passwords import hash_password
from tests.api.test_console import (
    CSRF_FIELD,
    PASSWORD,
    add_staff,
    console_login,
    csrf_of,
    password_hash,
)
from tests.api.test_console_during_outage import REASON, audit_rows, open_gate
from tests.api.test_database_outage import FAST, wait_for
from tests.db_outage import DatabaseOutage

REFUSED_DURING_OUTAGE = "恢复前只有中断前仍在启用的账号能登录"


def login_form(client: Any, username: str, password: str) -> Any:
    """The login form as a browser posts it, with the page's anonymous CSRF token."""
    token = CSRF_FIELD.search(client.get("/console/login").text)
    assert token is not None
    return client.post("/console/login", data={
        "username": username, "password": password, "csrf_token": token.group(1),
    }, follow_redirects=False)


def api_token(client: Any, username: str, password: str) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def idle_log_out(client: Any, csrf: str) -> None:
    """What the booth page does after 15 idle minutes."""
    out = client.post("/console/logout", data={"csrf_token": csrf, "idle": "true"},
                      follow_redirects=False)
    assert out.status_code == 303 and "idle=1" in out.headers["location"]
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_a_guard_logged_out_during_an_outage_logs_back_in_and_opens_a_gate(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    csrf = console_login(client, "guard")  # the booth page, open before the outage

    outage.cut(services.engine)
    idle_log_out(client, csrf)
    back = login_form(client, "guard", PASSWORD)
    assert back.status_code == 303 and back.headers["location"] == "/console"
    cookie = back.headers.get_list("set-cookie")
    assert any(c.startswith("parkgate_session=") and "HttpOnly" in c for c in cookie)
    assert any(c.startswith("parkgate_csrf=") for c in cookie)  # a fresh nonce, as always
    page = client.get("/console")
    assert page.status_code == 200 and 'id="outage-banner"' in page.text
    assert 'data-gate="main-in" data-action="open"' in page.text

    stale = open_gate(client, csrf, "main-in")  # the token of the page before the log-out
    assert stale.status_code == 403
    opened = open_gate(client, csrf_of(page.text), "main-in")
    assert opened.status_code == 200, opened.text
    assert opened.json()["journal_id"] and str(services.barriers["main-in"].state) in (
        "opening", "open")

    # The API's token endpoint too, for a booth tablet's app.
    tablet = TestClient(client.app)
    token = api_token(tablet, "guard", PASSWORD)
    assert token.status_code == 200, token.text
    assert token.json()["role"] == "guard"
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert tablet.get("/api/v1/gates", headers=bearer).status_code == 200

    # On disk the hash is only in the staff accounts file, readable by parkgate alone.
    data_dir = Path(services.settings.data_dir)
    on_disk = [p for p in data_dir.rglob("*") if p.is_file()
               and password_hash().encode() in p.read_bytes()]
    assert on_disk == [data_dir / "journal" / "staff_accounts.json"]
    assert on_disk[0].stat().st_mode & 0o777 == 0o600
    assert PASSWORD.encode() not in on_disk[0].read_bytes()

    outage.restore()
    wait_for(lambda: not services.audit_waiting())
    (entry,) = audit_rows(services)
    assert (entry.username, entry.reason) == ("guard", REASON)


def test_a_wrong_password_during_an_outage_is_refused_and_throttled(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    console_login(client, "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=3, first_pause_s=30)
    browser = TestClient(client.app)

    outage.cut(services.engine)
    for attempt in ("wrong-password", "Correct-Horse"):
        refused = login_form(browser, "guard", attempt)
        assert refused.status_code == 401
        assert REFUSED_DURING_OUTAGE in refused.text and 'name="password"' in refused.text
        assert "parkgate_session" not in browser.cookies
    refused = api_token(browser, "GUARD", "wrong-password")  # one count, however it is typed
    assert refused.status_code == 401
    assert "active before the outage" in refused.json()["detail"]

    paused = login_form(browser, "guard", PASSWORD)  # the right password, too late
    assert paused.status_code == 429 and int(paused.headers["retry-after"]) >= 1
    assert "parkgate_session" not in browser.cookies
    assert api_token(browser, "guard", PASSWORD).status_code == 429
    outage.restore()


def test_only_accounts_active_before_the_outage_can_log_in_during_it(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "admin", "admin")
    add_staff(services, "guard", "guard")
    add_staff(services, "night", "guard")  # the night shift: not logged in since the start
    admin_csrf = console_login(client, "admin")
    dismissed = TestClient(client.app)
    console_login(dismissed, "guard")  # logged in...
    with transaction(services.sessions) as session:
        guard_id = session.query(User.id).filter(User.username == "guard").scalar()
    off = client.post(f"/console/admin/users/{guard_id}/active",
                      data={"active": "false", "csrf_token": admin_csrf}, follow_redirects=False)
    assert off.status_code == 303  # ...then deactivated by the office
    client.portal.call(services.refresh_staff)  # as the offline loop does every 30 s

    outage.cut(services.engine)
    for name in ("guard", "nobody"):
        browser = TestClient(client.app)
        refused = login_form(browser, name, PASSWORD)
        assert refused.status_code == 401, name
        assert REFUSED_DURING_OUTAGE in refused.text
        assert "parkgate_session" not in browser.cookies
        assert api_token(browser, name, PASSWORD).status_code == 401
    # The dismissed guard's old session does not open the booth page either.
    assert dismissed.get("/console").status_code == 503
    # The night guard starting a shift during the outage can, and the admin too.
    night = TestClient(client.app)
    assert login_form(night, "night", PASSWORD).status_code == 303
    assert night.get("/console").status_code == 200
    assert api_token(TestClient(client.app), "night", PASSWORD).status_code == 200
    assert login_form(TestClient(client.app), "admin", PASSWORD).status_code == 303
    outage.restore()


def test_the_hash_read_last_is_the_one_used_and_the_database_decides_once_back(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """A password changed in the database is learnt with the account's next request; once
    the database answers again, it decides every login as before."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    console_login(client, "guard")
    with transaction(services.sessions) as session:
        session.execute(update(User).where(User.username == "guard")
                        .values(password_hash=hash_password("new-booth-pass")))
    assert client.get("/console").status_code == 200  # the guard's page reads the row again

    outage.cut(services.engine)
    assert login_form(TestClient(client.app), "guard", PASSWORD).status_code == 401
    assert login_form(TestClient(client.app), "guard", "new-booth-pass").status_code == 303

    outage.restore()
    wait_for(lambda: 'id="outage-banner"' not in client.get("/console").text)
    # The database answers: its refusal is the ordinary one, and its row decides.
    refused = login_form(TestClient(client.app), "guard", PASSWORD)
    assert refused.status_code == 401 and REFUSED_DURING_OUTAGE not in refused.text
    assert "用户名或密码错误" in refused.text
    browser = TestClient(client.app)
    assert login_form(browser, "guard", "new-booth-pass").status_code == 303
    page = browser.get("/console")
    assert page.status_code == 200 and 'id="outage-banner"' not in page.text
    assert re.search(r'id="review-list" data-count="\d+"', page.text)
    assert api_token(TestClient(client.app), "guard", "new-booth-pass").status_code == 200


def test_an_account_created_just_before_an_outage_logs_in_during_it(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """A guard account made on the 用户 page or through the API a moment before the database
    goes away: the memory logins during an outage are checked against has it at once, not at
    the next refresh (an hour away here)."""
    client = app_factory(database_url=outage.url,
                         access={"offline_refresh_s": 3600, "offline_retry_s": 0.2})
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    made = client.post("/api/v1/users", headers=admin, json={
        "username": "night-guard", "role": "guard", "password": "Gate-keeper-2026"})
    assert made.status_code == 201, made.text
    csrf = console_login(client, "admin")
    page = client.post("/console/admin/users", data={
        "username": "day-guard", "password": "Gate-keeper-2026", "role": "guard",
        "csrf_token": csrf}, follow_redirects=False)
    assert page.status_code == 303 and "msg=users.created" in page.headers["location"]

    outage.cut(services.engine)
    client.cookies.clear()  # the booth's other browser: no admin session
    for name in ("night-guard", "day-guard"):
        token = api_token(client, name, "Gate-keeper-2026")
        assert token.status_code == 200, (name, token.text)
