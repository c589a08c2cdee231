"""The booth's gate card shows what the lane screen (车道屏) tells the driver, live: the guard
answering the intercom reads the same words. Debian chromium on a real server with the demo
community's simulated screens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_console_live_browser import add_households, guard_page
from tests.browser.test_console_typed_plate_browser import RESIDENT, STRANGER, register_car

pytestmark = pytest.mark.browser


def type_plate(server: LiveServer, gate: str, plate: str) -> None:
    """A plate the guard types for a car the camera cannot read (decided as a read is)."""
    token = server.services.signer.issue("guard", "guard")
    response = httpx.post(f"{server.base_url}/api/v1/gates/{gate}/typed-plate",
                          json={"plate": plate, "reason": "摄像头故障"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text


def test_the_gate_card_says_what_the_lane_screen_tells_the_driver(
    live_server: LiveServer, new_page: Any
) -> None:
    (household,) = add_households(live_server, ("8栋", "601"))
    register_car(live_server, RESIDENT, household)
    page = guard_page(new_page, live_server)
    card = page.locator('.gate[data-gate="main-in"]')
    told = card.locator('[data-role="screen-text"]')
    expect(card.locator('[data-role="screen"]')).to_contain_text("显示屏")
    # A face gate's screen at rest says nothing: the card shows a dash, not a bare label.
    expect(page.locator('.gate[data-gate="ped-1"] [data-role="screen-text"]')).to_have_text("—")
    expect(told).to_contain_text("余位")  # at rest: the zone's free spaces

    type_plate(live_server, "main-in", STRANGER)
    expect(told).to_have_text("粤B·67890 · 未登记车辆 · 请联系保安")
    type_plate(live_server, "main-in", RESIDENT)
    expect(told).to_contain_text("闽A·12345 · 欢迎回家")
    screenshot(page, "console-gate-screen")
