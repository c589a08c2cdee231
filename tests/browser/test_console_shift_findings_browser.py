"""What a walk through a guard's shift on the demo found, in Debian chromium at the booth's
1366x768 (2026-12-02): logging in again after a mistyped password; a visitor pass refused.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, LiveServer, enter_as
from tests.browser.test_console_live_browser import add_households

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


def test_a_refused_visitor_pass_says_why_on_the_screen_not_below_it(
    live_server: LiveServer, new_page: Any
) -> None:
    """The pass form's refusal is written under the whole form (the notes on times and
    walk-ins included): at 1366x768 it came below the screen's edge, and 添加 seemed to do
    nothing at all while the guard at the barrier waited."""
    add_households(live_server, ("5栋", "302"))
    page = new_page()
    page.set_viewport_size(BOOTH)
    enter_as(page, live_server, "guard", "guard")
    page.goto("/console/admin/passes")
    form = page.locator("#pass-form")
    form.locator('input[name="plate"]').fill("京A12345")
    form.locator('select[name="host_household_id"]').select_option(label="5栋 302")
    form.locator('input[name="valid_from"]').fill("2026-12-03T10:00")
    form.locator('input[name="valid_to"]').fill("2026-12-03T09:00")  # an hour before it
    form.locator('button[type="submit"]').click()

    error = form.locator(".error")
    expect(error).to_have_text("结束时间必须晚于开始时间")
    expect(error).to_be_in_viewport()
