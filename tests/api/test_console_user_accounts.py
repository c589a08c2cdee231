"""The 用户 page's actions on other staff accounts (found walking the console as a property
manager): 停用 asks first."""

from __future__ import annotations

import html
import re
from typing import Any

from tests.api.test_console import add_staff, cookie_login

ACTIVE_FORM = re.compile(r'<form method="post" action="/console/admin/users/\d+/active"[^>]*>')


def _forms(page: str) -> dict[str, str]:
    """Each account's 停用/启用 form tag, by username."""
    rows = re.findall(r'<tr data-user="([^"]+)">(.*?)</tr>', page, re.S)
    return {name: ACTIVE_FORM.search(row).group(0) for name, row in rows}  # type: ignore[union-attr]


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
    assert '<script src="/console/static/admin.js">' in page  # what asks the question
