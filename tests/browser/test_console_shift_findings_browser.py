"""What a walk through a guard's shift on the demo found, in Debian chromium at the booth's
1366x768 (2026-12-02): logging in again after a mistyped password.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.browser

BOOTH = {"width": 1366, "height": 768}


def test_after_a_wrong_password_the_cursor_waits_in_the_password_box(
    live_server: LiveServer, new_page: Any
) -> None:
    """The refusal keeps the name and empties the password, but the cursor went back to the
    name: the guard typing the password again at once typed it on the end of 'guard', was
    refused again and, five times, locked out."""
    page = new_page()
    page.set_viewport_size(BOOTH)
    page.goto("/console/login")
    expect(page.locator('input[name="username"]')).to_be_focused()  # a fresh form: the name
    page.keyboard.type("guard")
    page.keyboard.press("Tab")
    page.keyboard.type("not-the-password")
    page.keyboard.press("Enter")
    expect(page.locator("#login-form .error")).to_have_text("用户名或密码错误")
    expect(page.locator('input[name="username"]')).to_have_value("guard")
    expect(page.locator('input[name="password"]')).to_be_focused()

    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console$"))
