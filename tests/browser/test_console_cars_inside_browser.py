"""场内车辆 in Debian chromium, where a guard walking the car park reads it: on a tablet
(768x1024) and a phone (390x844) each row's 标记已离场 lies whole on the screen, the page does
not scroll sideways with the panel open, and the form (a preset reason, no script needed) takes
the car out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_small_screen_browser import PHONE, TABLET, sideways

pytestmark = pytest.mark.browser


def two_cars_inside(server: LiveServer) -> None:
    from models.db import transaction
    from models.site import Zone
    from models.vehicles import Presence

    now = datetime.now(UTC)
    with transaction(server.services.sessions) as session:
        session.add_all([
            Presence(plate="粤BD12345", zone_id="A", entered_at=now - timedelta(hours=40),
                     passage_id=None),
            Presence(plate="闽A12345", zone_id="A", entered_at=now - timedelta(minutes=5),
                     passage_id=None),
        ])
        zone = session.get(Zone, "A")
        assert zone is not None
        zone.occupied = 2


def test_mark_left_on_a_tablet_and_a_phone(live_server: LiveServer, new_page: Any) -> None:
    two_cars_inside(live_server)
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    for viewport in (TABLET, PHONE):
        page.set_viewport_size(viewport)
        page.goto("/console/presence", wait_until="domcontentloaded")
        row = page.locator('tr[data-plate="粤BD12345"]')
        button = row.locator("summary")
        box = button.bounding_box()
        assert box is not None and box["x"] >= 0, box
        assert box["x"] + box["width"] <= viewport["width"], (viewport, box)
        button.click()
        screenshot(page, f"90-cars-inside-{viewport['width']}")
        assert sideways(page) == 0, viewport
        submit = row.locator("button[type=submit]")
        box = submit.bounding_box()
        assert box is not None and box["x"] + box["width"] <= viewport["width"], box
    row.locator('select[name="preset"]').select_option(index=1)
    submit.click()
    expect(page.locator("#inside-done")).to_contain_text("粤BD12345")
    assert page.locator("tr[data-plate]").count() == 1
    expect(page.locator(".inside-recorded").first).to_have_text("记录在场 1 辆")
