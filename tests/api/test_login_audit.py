"""Logins, failed logins and log-outs are in the audit log, where the property office looks.

"Who was on the console when the gate was opened at 02:10" and "is someone guessing
passwords" were answered only by the application log on the controller's disk. The rows name
the account (or the name as typed), the door (console page or API), the address and, for the
failure that starts a pause, how long; never a password. During a database outage they go to
the audit journal and reach the table when it answers.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.console.throttle import LoginThrottle
from controllers.events import Event
from models.db import transaction
from models.events import Alarm, AuditEntry
from services import login_audit
from tests.api.test_console import PASSWORD, add_staff, add_user, console_login
from tests.api.test_database_outage import FAST, wait_for
from tests.api.test_login_during_outage import api_token, idle_log_out, login_form
from tests.db_outage import DatabaseOutage


def login_rows(services: Any) -> list[tuple[str, str, dict[str, Any], str | None]]:
    with transaction(services.sessions) as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action.startswith("auth."))
            .order_by(AuditEntry.id)
        )
        return [(r.username, r.action, dict(r.details), r.journal_id) for r in rows]


def test_console_and_api_logins_failures_and_log_outs_are_audited(client: Any) -> None:
    services = client.app.state.services
    add_user(client, "guard1", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=2, first_pause_s=30)

    assert login_form(client, "guard1", "wrong-password").status_code == 401
    assert login_form(client, "no-such-user", "whatever").status_code == 401
    csrf = console_login(client, "guard1")
    assert client.post("/console/logout", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    assert api_token(client, "guard1", PASSWORD).status_code == 200
    assert api_token(client, "guard1", "wrong-again").status_code == 401
    assert api_token(client, "guard1", "wrong-third").status_code == 401  # starts a pause
    assert api_token(client, "guard1", PASSWORD).status_code == 429  # refused unchecked

    rows = login_rows(services)
    assert [(name, action, details["via"]) for name, action, details, _ in rows] == [
        ("guard1", "auth.login_failed", "console"),
        ("no-such-user", "auth.login_failed", "console"),
        ("guard1", "auth.login", "console"),
        ("guard1", "auth.logout", "console"),
        ("guard1", "auth.login", "api"),
        ("guard1", "auth.login_failed", "api"),
        ("guard1", "auth.login_failed", "api"),
    ]
    assert all(details["address"] == "testclient" for _, _, details, _ in rows)
    assert rows[2][2]["role"] == "guard" and rows[3][2]["idle"] is False
    # The success cleared the count; the second failure after it starts the 30 s pause.
    assert "paused_s" not in rows[5][2] and rows[6][2]["paused_s"] == 30
    written = repr(rows)
    assert "wrong" not in written and PASSWORD not in written  # never a password


def test_an_idle_log_out_and_a_name_too_long_for_the_column_are_kept(client: Any) -> None:
    services = client.app.state.services
    add_user(client, "guard1", "guard")
    idle_log_out(client, console_login(client, "guard1"))
    # Over 64 characters the token endpoint refuses the name unheard (422, no row); within
    # them, the escapes of invisible characters lengthen it past the column: cut to 64.
    assert api_token(client, "x" * 300, "whatever").status_code == 422
    assert api_token(client, "x" * 60 + "\u200b" * 4, "whatever").status_code == 401

    rows = login_rows(services)
    assert [(a, d.get("idle")) for _, a, d, _ in rows[1:]] == [
        ("auth.logout", True), ("auth.login_failed", None)]
    assert rows[-1][0] == ("x" * 60 + "\\u200b")[:64]


def test_the_admin_audit_page_lists_logins_in_chinese_and_filters_them(client: Any) -> None:
    add_user(client, "admin", "admin")
    add_user(client, "guard1", "guard")
    assert login_form(TestClient(client.app), "guard1", "wrong-password").status_code == 401
    console_login(client, "admin")

    page = client.get("/console/admin/audit", params={"action": "auth"})
    assert page.status_code == 200
    text = page.text
    assert "登录失败" in text and "值班控制台" in text and "来源地址" in text
    assert 'value="auth"' in text  # the filter offers all logins as a group
    assert "会话编号（摘要）" in text  # pairs a login with the log-out that ended it
    only_failures = client.get("/console/admin/audit", params={"action": "auth.login_failed"})
    assert "guard1" in only_failures.text and ">admin<" not in only_failures.text


def test_logins_during_an_outage_reach_the_audit_log_when_it_answers(
    app_factory: Any, outage: DatabaseOutage, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    csrf = console_login(client, "guard")  # seen active before the outage
    before = len(login_rows(services))
    published: list[Event] = []
    publish = services.bus.publish

    def publish_and_keep(event: Event) -> None:
        published.append(event)
        publish(event)

    monkeypatch.setattr(services.bus, "publish", publish_and_keep)
    # Anyone can fail a login; the guards' gate actions share the journal: capped.
    monkeypatch.setattr(login_audit, "JOURNALLED_FAILURES_LIMIT", 2)

    outage.cut(services.engine)
    idle_log_out(client, csrf)
    for name in ("guard", "nobody", "another"):
        assert login_form(TestClient(client.app), name, "wrong-password").status_code == 401
    assert login_form(client, "guard", PASSWORD).status_code == 303
    assert services.audit_waiting()

    outage.restore()
    wait_for(lambda: not services.audit_waiting())
    rows = login_rows(services)[before:]
    assert [(name, action) for name, action, _, _ in rows] == [
        ("guard", "auth.logout"), ("guard", "auth.login_failed"),
        ("nobody", "auth.login_failed"), ("guard", "auth.login")]
    assert all(journal_id for *_, journal_id in rows)  # each written once, from the journal
    # Written back, they stay off the staff's live stream like every other login row.
    assert [e for e in published if e.type == "audit"] == []


def test_a_failure_at_an_account_typed_otherwise_is_filed_under_that_account(
    client: Any,
) -> None:
    add_user(client, "guard1", "guard")
    assert api_token(client, "GUARD1", "wrong-password").status_code == 401
    assert login_form(client, "ｇｕａｒｄ１", "wrong-password").status_code == 401
    rows = login_rows(client.app.state.services)
    assert [(name, details.get("typed")) for name, _, details, _ in rows] == [
        ("guard1", "GUARD1"), ("guard1", "ｇｕａｒｄ１")]


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("guard1\u200b", "guard1\\u200b"),  # a zero-width space: looked like guard1
        ("\u202e1draug", "\\u202e1draug"),  # a right-to-left override: showed as guard1
        ("x\x00y", "x\\u0000y"),  # NUL: PostgreSQL refuses it in text
        ("a\r\nb", "a\\u000d\\u000ab"),
    ],
)
def test_invisible_and_control_characters_in_a_typed_name_are_stored_escaped(
    client: Any, typed: str, stored: str
) -> None:
    answer = api_token(client, typed, "whatever")
    names = [name for name, *_ in login_rows(client.app.state.services)]
    if answer.status_code == 422:  # PostgreSQL refuses NUL in the account lookup itself
        assert "\x00" in typed and names == []
    else:
        assert answer.status_code == 401 and names == [stored]


def test_one_address_is_paused_after_many_failures_at_different_names(client: Any) -> None:
    add_user(client, "guard1", "guard")
    client.app.state.login_throttle = LoginThrottle(max_failures=5, max_address_failures=6)
    for n in range(6):
        assert api_token(client, f"guess{n}", "wrong-password").status_code == 401
    assert api_token(client, "guard1", PASSWORD).status_code == 429  # a name never tried
    rows = login_rows(client.app.state.services)
    assert len(rows) == 6 and rows[-1][2]["paused_s"] == 30


def test_the_users_page_shows_each_accounts_last_login(client: Any) -> None:
    add_user(client, "admin", "admin")
    add_user(client, "guard1", "guard")
    add_user(client, "night", "guard")
    console_login(TestClient(client.app), "guard1")
    console_login(client, "admin")

    page = client.get("/console/admin/users").text
    rows = dict(re.findall(r'<tr data-user="([^"]+)">(.*?)</tr>', page, re.S))
    assert "从未登录" in rows["night"]
    for name in ("guard1", "admin"):
        link = re.search(
            r'<td class="last-login"[^>]*><a href="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d)</a>',
            rows[name],
        )
        assert link is not None, rows[name]
        assert link.group(1) == f"/console/admin/audit?user={name}&amp;action=auth"
        beijing_now = datetime.now(ZoneInfo("Asia/Shanghai"))
        shown = datetime.strptime(link.group(2), "%Y-%m-%d %H:%M").replace(
            tzinfo=ZoneInfo("Asia/Shanghai"))
        assert abs((beijing_now - shown).total_seconds()) < 120  # Beijing time, not UTC


def test_a_restart_remembers_the_failed_logins_of_the_window(app_factory: Any) -> None:
    first = app_factory()
    add_user(first, "guard1", "guard")
    for _ in range(5):  # the default throttle: 5 failures, then a 30 s pause
        assert api_token(first, "GUARD1", "wrong-password").status_code == 401
    assert api_token(first, "guard1", PASSWORD).status_code == 429

    first.__exit__(None, None, None)  # stopped: the next one takes its database
    restarted = app_factory()  # a new process on the same database
    refused = api_token(restarted, "guard1", PASSWORD)
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 30


@pytest.mark.parametrize("door", ["api", "console"])
def test_guessing_at_many_names_raises_one_alarm_for_the_guards(client: Any, door: str) -> None:
    client.app.state.login_throttle = LoginThrottle(max_failures=5, max_address_failures=6)
    for n in range(8):  # six failures pause the address; the last two are refused unchecked
        if door == "api":
            api_token(client, f"guess{n}", "wrong-password")
        else:
            login_form(client, f"guess{n}", "wrong-password")
    with transaction(client.app.state.services.sessions) as session:
        alarms = [(a.kind, a.message) for a in session.scalars(select(Alarm))]
    assert len(alarms) == 1
    kind, message = alarms[0]
    assert kind == "login_guessing" and "6 failed logins from testclient" in message
    assert "guess" not in message  # the names tried stay in the audit log
