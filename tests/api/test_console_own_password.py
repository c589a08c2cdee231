"""修改密码: a staff member changes their own password from the header's link (a guard whose
password a colleague saw must not wait for an admin)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_console import PASSWORD, add_staff, console_login
from tests.api.test_console_admin_texts import _visible_text
from tests.api.test_login_during_outage import api_token

NEW = "Gate-Wf-0519"


def _change(client: Any, csrf: str, current: str, new: str, again: str | None = None) -> Any:
    return client.post(
        "/console/password",
        data={
            "current_password": current,
            "password": new,
            "password_again": new if again is None else again,
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )


def _can_log_in(app: Any, username: str, password: str) -> bool:
    return api_token(TestClient(app), username, password).status_code == 200


def test_a_guard_changes_their_own_password_and_only_this_session_stays(
    app_factory: Any,
) -> None:
    booth = app_factory()
    services = booth.app.state.services
    add_staff(services, "admin", "admin")
    add_staff(services, "guard1", "guard")
    csrf = console_login(booth, "guard1")
    phone = TestClient(booth.app)
    console_login(phone, "guard1")
    token = api_token(TestClient(booth.app), "guard1", PASSWORD).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}

    home = booth.get("/console").text
    assert 'href="/console/password"' in home and "修改密码" in home  # in the header
    page = booth.get("/console/password")
    assert page.status_code == 200 and "当前密码" in page.text

    done = _change(booth, csrf, PASSWORD, NEW)
    assert done.status_code == 303 and done.headers["location"] == "/console/password?done=1"
    shown = booth.get("/console/password?done=1")
    assert "密码已修改，其他地方的登录都已退出" in _visible_text(shown.text)
    # This session stays logged in, also after its cookie is renewed by a page ...
    for _ in range(2):
        assert booth.get("/console", follow_redirects=False).status_code == 200
    # ... every other session and token of the account ends at once.
    other = phone.get("/console", follow_redirects=False)
    assert other.status_code == 303 and "/console/login" in other.headers["location"]
    assert booth.get("/api/v1/gates", headers=bearer).status_code == 401
    assert not _can_log_in(booth.app, "guard1", PASSWORD)
    assert _can_log_in(booth.app, "guard1", NEW)

    admin = TestClient(booth.app)
    console_login(admin, "admin")
    audit = admin.get("/api/v1/audit", params={"action": "user.password_change"}).json()
    assert [(r["username"], r["details"]) for r in audit["items"]] == [
        ("guard1", {"username": "guard1"})
    ]
    everything = admin.get("/api/v1/audit").text
    assert NEW not in everything and PASSWORD not in everything and "argon2" not in everything
    assert "修改自己的密码" in admin.get("/console/admin/audit").text

    # The offline staff file (logins during a database outage) holds the new hash already.
    from services.passwords import verify_password

    known = services.staff.get("guard1")
    assert known is not None and verify_password(known.password_hash, NEW)
    assert not verify_password(known.password_hash, PASSWORD)


def test_refused_changes_say_why_in_chinese_and_change_nothing(client: Any) -> None:
    services = client.app.state.services
    add_staff(services, "admin", "admin")
    csrf = console_login(client, "admin")  # an admin changes their own the same way
    refused = {
        "mismatch": _change(client, csrf, PASSWORD, NEW, NEW + "x"),
        "weak": _change(client, csrf, PASSWORD, "12345678"),
        "name": _change(client, csrf, PASSWORD, "admin2026"),
        "short": _change(client, csrf, PASSWORD, "Ab-1"),
        "same": _change(client, csrf, PASSWORD, PASSWORD),
        "wrong": _change(client, csrf, "not-my-password", NEW),
    }
    assert {r.status_code for r in refused.values()} == {400}
    shown = {what: _visible_text(r.text) for what, r in refused.items()}
    assert "两次输入的新密码不一样" in shown["mismatch"]
    assert "密码太容易猜到" in shown["weak"] and "密码太容易猜到" in shown["name"]
    assert "密码至少 8 个字符" in shown["short"]
    assert "新密码不能和当前密码一样" in shown["same"]
    assert "当前密码不对" in shown["wrong"]

    no_csrf = client.post(
        "/console/password",
        data={"current_password": PASSWORD, "password": NEW, "password_again": NEW},
        follow_redirects=False,
    )
    assert no_csrf.status_code == 403

    assert client.get("/console", follow_redirects=False).status_code == 200
    assert _can_log_in(client.app, "admin", PASSWORD)
    assert not _can_log_in(client.app, "admin", NEW)
    assert (
        client.get("/api/v1/audit", params={"action": "user.password_change"}).json()["items"] == []
    )


def test_guessing_the_current_password_is_throttled_as_a_login_is(client: Any) -> None:
    services = client.app.state.services
    add_staff(services, "guard1", "guard")
    csrf = console_login(client, "guard1")
    for n in range(5):
        wrong = _change(client, csrf, f"guess-number-{n}", NEW)
        assert wrong.status_code == 400 and "当前密码不对" in _visible_text(wrong.text)
    # Paused now, even for the right password; and the login form is paused for the name too.
    paused = _change(client, csrf, PASSWORD, NEW)
    assert paused.status_code == 429 and int(paused.headers["Retry-After"]) > 0
    assert "当前密码输错次数过多" in _visible_text(paused.text)
    assert api_token(TestClient(client.app), "guard1", PASSWORD).status_code == 429
    # Each wrong one is a failed login in the audit log (a restart counts them again).
    from sqlalchemy import func, select

    from models.events import AuditEntry

    with services.sessions() as session:
        failed = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "auth.login_failed", AuditEntry.username == "guard1")
        )
    assert failed == 5
