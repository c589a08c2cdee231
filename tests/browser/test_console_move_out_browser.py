"""搬离's 确认搬离 in Debian chromium: a second click right after the first (a bouncing mouse,
a held Enter) sent the form twice; the first removed the flat, the second answered 住户不存在
(可能已经搬离), and that page replaced the one saying what was removed and which 固定车位 to
re-point. The form now goes once; the back button then says the flat is gone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, enter_as
from tests.browser.test_console_admin_browser import add_household, admin_api

pytestmark = pytest.mark.browser


def test_a_second_click_on_confirm_is_not_sent(live_server: LiveServer, new_page: Any) -> None:
    add_household(live_server, "3栋", "1201")
    with admin_api(live_server) as api:
        household = api.get("/api/v1/households").json()[0]["id"]
        car = api.post("/api/v1/vehicles", json={"plate": "沪B7M261", "household_id": household})
        assert car.status_code == 201, car.text
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto(f"/console/admin/households/{household}/move-out")
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url)
            if request.method == "POST" else None)

    # Chromium sends both when the second comes before the first request is under way.
    page.evaluate("""() => {
        const button = document.querySelector('#move-out-form button[type=submit]');
        button.click();
        setTimeout(() => button.click(), 0);
    }""")
    expect(page.locator("#move-out-done")).to_contain_text("3栋 1201 已搬离")
    page.wait_for_timeout(500)  # a second answer, had one been asked for, lands by now
    expect(page.locator("#move-out-done")).to_be_visible()
    assert len(posts) == 1, posts

    page.go_back()
    expect(page.locator("#move-out-gone")).to_contain_text(f"住户 #{household} 不存在")
