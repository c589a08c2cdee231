"""The 车位与火警 page in a real browser: a manager corrects a zone's count after walking the
lot, and runs a fire drill (every gate held open) and clears it, each step confirmed and
audited, without the English /docs page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import admin_api

pytestmark = pytest.mark.browser


def test_manager_corrects_a_zone_count_from_the_page(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.click('nav a[href="/console/admin/site"]')
    page.wait_for_url("**/console/admin/site")
    row = page.locator('tr[data-zone="A"]')
    row.locator("summary").click()
    row.locator('input[name="occupied"]').fill("12")
    row.locator('input[name="reason"]').fill("晚上十点人工盘点")
    row.locator('button[type="submit"]').click()
    page.wait_for_selector('tr[data-zone="A"][data-occupied="12"]')
    page.wait_for_selector("text=已改为停放 12 辆")
    with admin_api(live_server) as api:
        zones = {z["id"]: z for z in api.get("/api/v1/availability").json()["zones"]}
        audit = api.get("/api/v1/audit", params={"action": "zone"}).json()["items"]
    assert zones["A"]["occupied"] == 12
    assert audit[0]["reason"] == "晚上十点人工盘点" and audit[0]["details"]["after"] == 12


def test_fire_drill_holds_every_gate_until_cleared_from_the_page(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/site")
    assert page.locator("#fire").get_attribute("data-fire-alarm") == "no"

    # Dismissing the confirmation triggers nothing.
    page.fill('#fire-drill input[name="reason"]', "消防演练")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click('#fire-drill button[type="submit"]')
    page.wait_for_timeout(500)
    assert not live_server.services.safety.fire_alarm_active

    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.click('#fire-drill button[type="submit"]')
    page.wait_for_selector('#fire[data-fire-alarm="yes"]')
    assert questions == ["触发火警联动？所有道闸将抬起并保持，直到管理员解除。"]
    assert live_server.services.safety.fire_alarm_active
    assert "所有道闸抬起并保持" in page.locator("#fire").inner_text()

    page.fill('#fire-clear input[name="reason"]', "演练结束，消防柜已复位")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click('#fire-clear button[type="submit"]')
    page.wait_for_selector('#fire[data-fire-alarm="no"]')
    page.wait_for_selector("text=火警已解除")
    assert not live_server.services.safety.fire_alarm_active
    with admin_api(live_server) as api:
        actions = [e["action"] for e in
                   api.get("/api/v1/audit", params={"action": "safety"}).json()["items"]]
    assert actions == ["safety.fire_alarm_cleared", "safety.fire_alarm"]


def test_on_a_phone_the_correction_form_is_on_the_screen(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console/admin/site")
    row = page.locator('tr[data-zone="A"]')
    row.locator("summary").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for control in row.locator("summary, input, button").all():
        box = control.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    # The zone's name on one line, not a character a line beside the open form.
    assert row.locator("td.name").evaluate("(el) => el.getClientRects()[0].height") < 40
    screenshot(page, "admin_site_phone_open")
    row.locator('input[name="occupied"]').fill("7")
    row.locator('input[name="reason"]').fill("晚上十点人工盘点")
    row.locator('button[type="submit"]').click()
    page.wait_for_selector('tr[data-zone="A"][data-occupied="7"]')
