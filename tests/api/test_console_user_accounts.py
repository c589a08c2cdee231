"""The 用户 page's actions on other staff accounts (found walking the console as a property
manager): 停用 asks first."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.api.test_console import add_staff, cookie_login
from tests.api.test_console_admin_texts import _visible_text

ACTIVE_FORM = re.compile(r'<form method="post" action="/console/admin/users/\d+/active"[^>]*>')


def _rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'<tr data-user="([^"]+)">(.*?)</tr>', page, re.S))


def _forms(page: str) -> dict[str, str]:
    """Each account's 停用/启用 form tag, by username (none on one's own row)."""
    found = {name: ACTIVE_FORM.search(row) for name, row in _rows(page).items()}
    return {name: form.group(0) for name, form in found.items() if form is not None}


def test_deactivating_asks_first_and_says_the_account_is_logged_out(client: Any) -> None:
    services = client.app.state.services
    add_staff(services, "admin", "admin")
    add_staff(services, "guard1", "guard")
    add_staff(services, "guard2", "guard")
    csrf = cookie_login(client, "admin", "admin")
    from models.people import User

    with services.sessions() as session:
        guard2 = session.query(User.id).filter(User.username == "guard2").scalar()
    client.post(
        f"/console/admin/users/{guard2}/active", data={"active": "false", "csrf_token": csrf}
    )
    page = client.get("/console/admin/users").text
    forms = _forms(page)
    assert (
        html.unescape(forms["guard1"]).count(
            'data-confirm="停用后 guard1 会立即退出登录，不能再登录。确定停用 guard1？"'
        )
        == 1
    )
    assert "data-confirm" not in forms["guard2"]  # 启用 ends nobody's session
    # One's own row offers no 停用: it asked "确定停用？" only for the answer 不能停用自己的账号.
    assert "admin" not in forms
    assert "当前登录的账号" in _visible_text(_rows(page)["admin"])
    assert '<script src="/console/static/admin.js">' in page  # what asks the question


# --- 重设密码 ---------------------------------------------------------------------------------

OLD, NEW = "booth-password-1", "Gate-Wf-0519"


def _user_id(services: Any, username: str) -> int:
    from models.people import User

    with services.sessions() as session:
        found = session.query(User.id).filter(User.username == username).scalar()
    assert found is not None
    return int(found)


def _reset(admin: Any, csrf: str, user_id: int, password: str, again: str | None = None) -> Any:
    return admin.post(
        f"/console/admin/users/{user_id}/password",
        data={
            "password": password,
            "password_again": password if again is None else again,
            "csrf_token": csrf,
        },
    )


def _can_log_in(app: Any, username: str, password: str) -> bool:
    from fastapi.testclient import TestClient

    from tests.api.test_login_during_outage import api_token

    return api_token(TestClient(app), username, password).status_code == 200


def test_an_admin_resets_a_guards_password_and_every_old_session_ends(app_factory: Any) -> None:
    from fastapi.testclient import TestClient

    from tests.api.test_console import console_login
    from tests.api.test_login_during_outage import api_token
    from tests.api.test_start_during_outage import stop

    admin = app_factory()
    services = admin.app.state.services
    add_staff(services, "admin", "admin")
    csrf = cookie_login(admin, "admin", "admin")
    created = admin.post(
        "/console/admin/users",
        data={"username": "guard1", "password": OLD, "role": "guard", "csrf_token": csrf},
    )
    assert "用户已创建" in created.text
    guard_id = _user_id(services, "guard1")
    booth = TestClient(admin.app)
    console_login(booth, "guard1", OLD)
    token = api_token(TestClient(admin.app), "guard1", OLD).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert admin.get("/api/v1/gates", headers=bearer).status_code == 200

    page = admin.get("/console/admin/users").text
    assert page.count('action="/console/admin/users/') and "重设密码" in page
    assert f'action="/console/admin/users/{_user_id(services, "admin")}/password"' not in page

    refused = {
        "mismatch": _reset(admin, csrf, guard_id, NEW, NEW + "x"),
        "weak": _reset(admin, csrf, guard_id, "12345678"),
        "name": _reset(admin, csrf, guard_id, "guard1!!"),
        "short": _reset(admin, csrf, guard_id, "Ab-1"),
    }
    shown = {what: _visible_text(r.text) for what, r in refused.items()}
    assert "两次输入的新密码不一样" in shown["mismatch"]
    assert "密码太容易猜到" in shown["weak"] and "密码太容易猜到" in shown["name"]
    assert "密码至少 8 个字符" in shown["short"]
    assert all("密码已重设" not in text for text in shown.values())
    assert booth.get("/console", follow_redirects=False).status_code == 200  # nothing changed

    done = _reset(admin, csrf, guard_id, NEW)
    assert "密码已重设，这个账号原来的登录都已退出" in _visible_text(done.text)
    # The booth's session and the API token logged in with the old password end at once ...
    page_after = booth.get("/console", follow_redirects=False)
    assert page_after.status_code == 303 and "/console/login" in page_after.headers["location"]
    refused_token = admin.get("/api/v1/gates", headers=bearer)
    assert refused_token.status_code == 401 and "password was reset" in refused_token.text
    # ... the old password no longer logs in, the new one does, and works.
    assert not _can_log_in(admin.app, "guard1", OLD)
    assert _can_log_in(admin.app, "guard1", NEW)
    fresh = TestClient(admin.app)
    console_login(fresh, "guard1", NEW)
    kept_cookie = fresh.cookies["parkgate_session"]
    # The admin's own session is untouched.
    assert admin.get("/console/admin/users").status_code == 200

    audit = admin.get("/api/v1/audit", params={"action": "user.password_reset"}).json()
    assert [(r["username"], r["target"], r["details"]) for r in audit["items"]] == [
        ("admin", f"user:{guard_id}", {"username": "guard1"})
    ]
    everything = admin.get("/api/v1/audit").text
    assert NEW not in everything and "argon2" not in everything
    assert "重设密码" in admin.get("/console/admin/audit").text

    # The offline staff file (logins during a database outage) holds the new hash already.
    known = services.staff.get("guard1")
    from services.passwords import verify_password

    assert known is not None and verify_password(known.password_hash, NEW)
    assert not verify_password(known.password_hash, OLD)

    # A restart refuses the old session and token still, and keeps the new session.
    stop(admin)
    restarted = app_factory()
    old_cookie = TestClient(restarted.app)
    old_cookie.cookies.set(
        "parkgate_session",
        page_after.request.headers["cookie"].split("parkgate_session=")[1].split(";")[0],
    )
    assert old_cookie.get("/console", follow_redirects=False).status_code == 303
    assert restarted.get("/api/v1/gates", headers=bearer).status_code == 401
    new_cookie = TestClient(restarted.app)
    new_cookie.cookies.set("parkgate_session", kept_cookie)
    assert new_cookie.get("/console", follow_redirects=False).status_code == 200


def test_only_an_admin_resets_another_accounts_password(client: Any) -> None:
    services = client.app.state.services
    add_staff(services, "admin", "admin")
    add_staff(services, "guard1", "guard")
    add_staff(services, "guard2", "guard")
    guard2 = _user_id(services, "guard2")
    from fastapi.testclient import TestClient

    guard = TestClient(client.app)
    forbidden = _reset(guard, cookie_login(guard, "guard1", "guard"), guard2, NEW)
    assert forbidden.status_code == 403 and "此页面仅限管理员使用" in forbidden.text
    csrf = cookie_login(client, "admin", "admin")
    gone = _reset(client, csrf, 999_999, NEW)
    assert gone.status_code == 404, gone.text[:3000]
    own = _reset(client, csrf, _user_id(services, "admin"), NEW)
    assert "不能在这里重设自己的密码" in _visible_text(own.text)
    assert (
        client.get("/api/v1/audit", params={"action": "user.password_reset"}).json()["items"] == []
    )
    from tests.api.test_console import PASSWORD

    assert _can_log_in(client.app, "guard2", PASSWORD)
    assert _can_log_in(client.app, "admin", PASSWORD)
