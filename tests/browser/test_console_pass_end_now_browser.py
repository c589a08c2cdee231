"""访客通行证 → 编辑/延长, 结束时间 set to now (admin guide 5.1 访客提前走了, and the panel's own
hint: 改成现在或更早立即失效), in a real browser, by a guard, who cannot delete a pass.

Walking the guide, a pass for a visit not begun yet (tomorrow's, called off) could not be ended
so: 结束时间必须晚于开始时间, and the panel offered nothing else. The pass stayed 未生效 and its
QR code would still open the gate tomorrow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import add_household, admin_api, passes_for

pytestmark = pytest.mark.browser

BEIJING = ZoneInfo("Asia/Shanghai")


def test_a_guard_ends_a_pass_not_begun_yet_by_setting_its_end_to_now(
    live_server: LiveServer, new_page: Any
) -> None:
    add_household(live_server)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    with admin_api(live_server) as api:
        made = api.post("/api/v1/passes", json={
            "plate": "粤B66666", "host_household_id": 1, "note": "明天来装空调",
            "valid_from": tomorrow.isoformat(),
            "valid_to": (tomorrow + timedelta(hours=8)).isoformat()})
        assert made.status_code == 201, made.text
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    page.goto("/console/admin/passes")
    row = page.locator("#pass-rows tr", has_text="粤B66666")
    assert row.locator(".pass-status").inner_text() == "未生效"
    row.locator("details[data-edit] > summary", has_text="编辑/延长").click()
    edit = row.locator("details[data-edit] form")
    now = datetime.now(BEIJING).strftime("%Y-%m-%dT%H:%M")
    edit.locator('input[name="valid_to"]').fill(now)
    edit.locator('button[type="submit"]').click()

    ended = page.locator('#pass-rows tr[data-status="expired"]', has_text="粤B66666")
    ended.wait_for()
    assert ended.locator(".pass-status").inner_text() == "已过期"
    screenshot(page, "63-pass-ended-before-it-began")
    assert ended.get_by_role("link", name="二维码").count() == 0
    [stored] = passes_for(live_server, "粤B66666")
    end = datetime.fromisoformat(stored["valid_to"])
    assert end <= datetime.now(UTC)
    assert datetime.fromisoformat(stored["valid_from"]) < end
    assert stored["note"] == "明天来装空调"  # nothing else of it changed
