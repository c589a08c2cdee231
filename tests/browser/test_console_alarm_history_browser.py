"""报警记录 at shift handover: from the booth's alarm area, the guard opens the alarm history
and narrows it to last night's acknowledged 跟车 alarms, with who handled them and what they
wrote. Debian chromium on a real server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from models.base import utcnow
from models.db import transaction
from models.events import Alarm
from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_console_live_browser import guard_page

pytestmark = pytest.mark.browser


def test_the_booth_links_to_the_alarm_history_and_it_filters(
    live_server: LiveServer, new_page: Any
) -> None:
    night = utcnow() - timedelta(hours=6)
    with transaction(live_server.services.sessions) as session:
        session.add_all(
            [
                Alarm(
                    at=night,
                    kind="tailgating",
                    gate_id="main-in",
                    message="tailgating at main-in",
                    acknowledged_by="guard2",
                    acknowledged_at=night + timedelta(minutes=4),
                    acknowledged_note="后车是8栋601业主，已补录",
                ),
                Alarm(
                    at=night + timedelta(minutes=30),
                    kind="hardware_fault",
                    gate_id="main-out",
                    message="barrier fault at main-out",
                    acknowledged_by="guard2",
                    acknowledged_at=night + timedelta(minutes=40),
                    acknowledged_note="已报修",
                ),
                Alarm(
                    at=night + timedelta(hours=1),
                    kind="tailgating",
                    gate_id="main-in",
                    message="tailgating at main-in",
                ),  # still open: on the booth screen too
            ]
        )
    page = guard_page(new_page, live_server)
    expect(page.locator("#alarm-list .alarm")).to_have_count(1)  # the open one alone
    screenshot(page, "console-alarm-history-link")
    page.click("#alarm-history-link")
    page.wait_for_url("**/console/alarms")
    rows = page.locator("#alarm-history-rows tr")
    expect(rows).to_have_count(3)
    expect(page.locator("#alarm-history-total")).to_have_text("共 3 条")

    # The demo community has a pedestrian gate: one kind, 尾随 when it is people.
    page.select_option('select[name="kind"]', label="跟车 / 尾随")
    page.select_option('select[name="state"]', label="已处理")
    page.click('#alarm-filter button[type="submit"]')
    page.wait_for_url("**/console/alarms?**kind=tailgating**")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row.locator(".alarm-kind")).to_have_text("跟车")
    expect(row).to_contain_text("东门入口")
    expect(row).to_contain_text("已处理")
    expect(row.locator(".alarm-by")).to_have_text("guard2")
    expect(row.locator(".alarm-note")).to_have_text("后车是8栋601业主，已补录")
    # The chosen filters stay chosen for the next search.
    expect(page.locator('select[name="kind"]')).to_have_value("tailgating")
    expect(page.locator('select[name="state"]')).to_have_value("acknowledged")
    screenshot(page, "console-alarm-history")
