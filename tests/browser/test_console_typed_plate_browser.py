"""人工录入车牌 on the booth page, in Debian chromium: the camera cannot read a car, the guard
types its plate on the gate's card, and learns from the toast what was decided and for whom;
the passage row appears as a camera read's would, marked as typed. All by keyboard once the
dialog is open (focus on the plate, Enter sends, Esc closes)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from models.db import transaction
from tests.api.test_database_outage import RESIDENT, wait_for
from tests.browser.conftest import LiveServer, browser_context, enter_as, screenshot
from tests.browser.test_console_live_browser import add_households, guard_page
from tests.browser.test_console_outage_browser import outage_server  # noqa: F401 - a fixture
from tests.db_outage import DatabaseOutage

pytestmark = pytest.mark.browser

STRANGER = "粤B67890"


def register_car(server: LiveServer, plate: str, household_id: int) -> None:
    from models.vehicles import Vehicle

    with transaction(server.services.sessions) as session:
        session.add(Vehicle(plate=plate, household_id=household_id))


def test_a_guard_types_a_residents_plate_and_sees_who_was_let_in(
    live_server: LiveServer, new_page: Any
) -> None:
    (household,) = add_households(live_server, ("8栋", "601"))
    register_car(live_server, RESIDENT, household)
    page = guard_page(new_page, live_server)
    card = page.locator('.gate[data-gate="main-in"]')
    dialog = page.locator("#typed-dialog")
    # Only vehicle gates have it: a pedestrian gate has no plate to type.
    expect(page.locator('.gate[data-gate="ped-1"] button.typed-plate')).to_have_count(0)

    # Esc closes the dialog and nothing is sent.
    card.locator("button.typed-plate").click()
    expect(dialog).to_be_visible()
    expect(page.locator("#typed-dialog-title")).to_have_text("东门入口 · 录入车牌")
    expect(dialog.locator('input[name="plate"]')).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # A plate that is no plate is refused in the dialog, in Chinese, and it stays open.
    card.locator("button.typed-plate").click()
    page.keyboard.type("粤B1234")
    dialog.get_by_label("摄像头故障").check()
    dialog.locator('input[name="plate"]').press("Enter")
    expect(dialog.locator(".error")).to_contain_text("不是有效的车牌号")
    expect(dialog).to_be_visible()
    screenshot(page, "console-typed-plate-dialog")

    # Typed as a guard types (lower case), confirmed with Enter from the plate box.
    dialog.locator('input[name="plate"]').fill("闽a12345")
    dialog.locator('input[name="plate"]').press("Enter")
    expect(dialog).to_be_hidden()
    toast = page.locator("#toast")
    expect(toast).to_contain_text("东门入口：已放行 闽A12345（业主车辆 8栋 601）")
    row = page.locator("#passage-rows tr.passage").first
    expect(row).to_contain_text(RESIDENT)
    expect(row).to_contain_text("人工录入车牌 · guard")
    expect(row).to_contain_text("8栋 601")
    expect(row).to_contain_text("放行")
    screenshot(page, "console-typed-plate")

    # Sent again at once (the answer seemed lost): that passage, not a second car.
    card.locator("button.typed-plate").click()
    page.keyboard.type(RESIDENT)
    dialog.get_by_label("摄像头故障").check()
    dialog.locator('input[name="plate"]').press("Enter")
    expect(toast).to_contain_text(
        "东门入口：闽A12345 刚刚已判定（业主车辆 8栋 601），本次未重复放行或计数")
    expect(page.locator("#passage-rows tr.passage")).to_have_count(1)

    # An unknown car goes to the review queue, as an unread one does; the toast says so.
    card.locator("button.typed-plate").click()
    page.keyboard.type(STRANGER)
    dialog.get_by_label("车牌未识别").check()
    dialog.locator("#typed-confirm").click()
    expect(toast).to_contain_text(f"东门入口：{STRANGER} 已转人工处理（未登记车辆）")
    expect(page.locator("#review-list .review-card")).to_contain_text(STRANGER)


def test_during_an_outage_the_toast_still_names_whose_car_it_was_taken_for(
    outage_server: LiveServer, outage: DatabaseOutage, chromium: Any  # noqa: F811
) -> None:
    """Found walking guide 4.6 and 7.1 with the database cut: the toast said 「已放行 闽A12345
    （业主车辆）」 without the flat the guard is told to check against the car, though the
    row below named it from the offline snapshot."""
    services = outage_server.services
    wait_for(lambda: RESIDENT in getattr(services.offline_file.load(), "permits", {}))
    context = browser_context(chromium, outage_server.base_url)
    try:
        page = context.new_page()
        enter_as(page, outage_server, "guard", "guard")  # seen active before the outage
        expect(page.locator("#live-dot")).to_have_attribute("data-live", "yes")
        outage.cut(services.engine)

        page.locator('.gate[data-gate="main-in"] button.typed-plate').click()
        page.keyboard.type(RESIDENT)
        dialog = page.locator("#typed-dialog")
        dialog.get_by_label("摄像头故障").check()
        dialog.locator('input[name="plate"]').press("Enter")
        expect(dialog).to_be_hidden()
        expect(page.locator("#toast")).to_contain_text(
            f"东门入口：已放行 {RESIDENT}（业主车辆 3栋 1201）")
        row = page.locator("#passage-rows tr.passage").first
        expect(row).to_contain_text("离线判定")
        expect(row).to_contain_text("3栋 1201")
        screenshot(page, "console-typed-plate-offline")
        outage.restore()
    finally:
        context.close()
