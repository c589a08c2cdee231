"""Staff passwords a guesser tries first are refused (the 用户 page and create-user alike).

A property manager walking the guide created a guard with 12345678 and another with
password: both were accepted, as the only rule was 8 characters."""

from __future__ import annotations

from typing import Any

import pytest

from errors import InvalidInputError
from services.passwords import weak_password
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_console_admin_texts import _visible_text


@pytest.mark.parametrize(
    ("password", "username", "weak"),
    [
        ("12345678", "zhang", True),
        ("87654321", "zhang", True),
        ("qwertyui", "zhang", True),
        ("abcdefgh", "zhang", True),
        ("11111111", "zhang", True),
        ("12121212", "zhang", True),
        ("password", "zhang", True),
        ("Password2026!", "zhang", True),
        ("ｐａｓｓｗｏｒｄ１", "zhang", True),  # full width, as an IME types it
        ("admin123", "zhang", True),
        ("zhangwei2026", "zhangwei", True),
        ("ZhangWei!!", "zhangwei", True),
        ("guard1!!", "guard1", True),
        # kept: what real passwords look like, the name inside a longer one, a date
        ("zhangwei2026", "liqiang", False),
        ("Guard-Zm-2026!", "zhaomin", False),
        ("crash-test-admin-pass", "admin", False),
        ("booth-password-1", "guard1", False),
        ("20261130", "zhang", False),
    ],
)
def test_weak_passwords(password: str, username: str, weak: bool) -> None:
    assert weak_password(password, username) is weak


def test_create_user_refuses_a_weak_password(client: Any) -> None:
    from models.db import transaction
    from services.users import create_user

    sessions = client.app.state.services.sessions
    with transaction(sessions) as session, pytest.raises(InvalidInputError, match="too easy"):
        create_user(session, "zhang", "12345678", "guard")


@pytest.mark.parametrize("password", ["12345678", "password", "wangfang2026"])
def test_the_users_page_refuses_a_weak_password_in_chinese(client: Any, password: str) -> None:
    add_staff(client.app.state.services, "admin", "admin")
    csrf = cookie_login(client, "admin", "admin")
    page = client.post(
        "/console/admin/users",
        data={"username": "wangfang", "password": password, "role": "guard", "csrf_token": csrf},
    )
    shown = _visible_text(page.text)
    assert "密码太容易猜到" in shown and "too easy" not in shown
    assert 'data-user="wangfang"' not in page.text  # not created
    assert f'value="{password}"' not in page.text  # never sent back
    created = client.post(
        "/console/admin/users",
        data={
            "username": "wangfang",
            "password": "Gate-Wf-0519",
            "role": "guard",
            "csrf_token": csrf,
        },
    )
    assert "用户已创建" in created.text and 'data-user="wangfang"' in created.text
