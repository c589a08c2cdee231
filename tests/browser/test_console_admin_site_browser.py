"""The 车位与火警 page in a real browser: a manager corrects a zone's count after walking the
lot, and runs a fire drill (every gate held open) and clears it, each step confirmed and
audited, without the English /docs page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Dialog, expect

from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import admin_api
from tests.browser.test_console_browser import push_frame
from tests.browser.test_console_guide_browser import on_the_server_loop
from tests.conftest import LabelledPhoto

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
    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    # The live stream may show the hold before the page reloads to say it was done: the
    # clearing below is typed into the reloaded page.
    with page.expect_navigation():
        page.click('#fire-drill button[type="submit"]')
    page.wait_for_selector('#fire[data-fire-alarm="yes"]')
    assert questions == ["触发火警联动？所有道闸将抬起并保持，直到管理员解除。"]
    assert live_server.services.safety.fire_alarm_active
    assert "所有道闸抬起并保持" in page.locator("#fire").inner_text()

    page.fill('#fire-clear input[name="reason"]', "演练结束，消防柜已复位")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
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


STREAM = "**/api/v1/events/stream"


def site_page(server: LiveServer, new_page: Any) -> Any:
    """The admin's 车位与火警 page, once its live stream is connected."""
    page = new_page()
    enter_as(page, server, "admin", "admin")
    page.goto("/console/admin/site")
    expect(page.locator("#site-live")).to_have_attribute("data-live", "yes")
    return page


def test_the_page_follows_the_fire_panel_the_gates_and_the_counts_without_a_reload(
    live_server: LiveServer, new_page: Any, readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[0]
    with admin_api(live_server) as api:
        household = api.post("/api/v1/households", json={"building": "3栋", "unit": "1201"})
        vehicle = api.post("/api/v1/vehicles",
                           json={"plate": photo.plate, "household_id": household.json()["id"]})
        assert vehicle.status_code == 201, vehicle.text
    page = site_page(live_server, new_page)
    expect(page.locator("#site-live")).to_contain_text("实时更新")
    # Gone if the page reloads: every change below must reach this same document.
    page.evaluate("window.parkgateSameDocument = true")
    fire = page.locator("#fire")
    gate = page.locator('#gate-states tr[data-gate="main-in"] td.state')
    zone = page.locator('tr[data-zone="A"]')
    expect(fire).to_contain_text("当前没有火警")
    expect(gate).to_have_text("关闭")
    # The admin has started a correction of zone A: what they typed stays.
    zone.locator("summary").click()
    zone.locator('input[name="occupied"]').fill("5")

    # The fire panel's contact closes: the hold shows, with the form that ends it.
    safety = live_server.services.safety
    on_the_server_loop(live_server, safety.fire_input.set, True)
    expect(fire).to_have_attribute("data-fire-alarm", "yes")
    expect(fire).to_contain_text("火警联动中：所有道闸抬起并保持")
    expect(page.locator("#fire-clear")).to_be_visible()
    expect(page.locator("#fire-drill")).to_be_hidden()
    expect(gate).to_have_text("常开")
    screenshot(page, "admin_site_live_fire")

    # Another admin corrects zone A elsewhere: the figures change, the typed count does not.
    with admin_api(live_server) as api:
        fixed = api.put("/api/v1/zones/A/occupancy",
                        json={"occupied": 9, "reason": "另一位管理员盘点"})
        assert fixed.status_code == 200, fixed.text
    expect(zone.locator("td.occupied")).to_have_text("9")
    expect(zone.locator("td.free")).to_have_text("31")
    expect(zone).to_have_attribute("data-occupied", "9")
    expect(zone.locator('input[name="occupied"]')).to_have_value("5")

    # The panel is reset and the alarm cleared from another console.
    on_the_server_loop(live_server, safety.fire_input.set, False)
    with admin_api(live_server) as api:
        cleared = api.post("/api/v1/safety/fire-alarm/clear", json={"reason": "消防柜已复位"})
        assert cleared.status_code == 200, cleared.text
    expect(fire).to_have_attribute("data-fire-alarm", "no")
    expect(fire).to_contain_text("当前没有火警")
    expect(page.locator("#fire-drill")).to_be_visible()
    expect(page.locator("#fire-clear")).to_be_hidden()
    expect(gate).not_to_have_text("常开")

    # A resident's car comes in at 东门入口 (zone A): one more car, its barrier moving.
    result = push_frame(live_server, "main-in", photo)
    assert result["decision"] == "allow", result
    expect(zone.locator("td.occupied")).to_have_text("10")
    expect(zone.locator("td.free")).to_have_text("30")
    expect(zone.locator('input[name="occupied"]')).to_have_value("5")
    assert page.evaluate("window.parkgateSameDocument") is True


def test_the_page_reconnects_after_the_stream_is_refused(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    # The server refuses the stream (restarting behind a proxy): the browser gives it up, and
    # the page tries again by itself.
    page.route(STREAM, lambda route: route.fulfill(status=503, body="restarting"))
    page.goto("/console/admin/site")
    live = page.locator("#site-live")
    expect(live).to_contain_text("实时连接中断，正在重连")
    with admin_api(live_server) as api:
        fixed = api.put("/api/v1/zones/B/occupancy", json={"occupied": 4, "reason": "人工盘点"})
        assert fixed.status_code == 200, fixed.text
    page.unroute(STREAM)
    expect(live).to_have_attribute("data-live", "yes")
    # What changed while it was away is read when it comes back.
    expect(page.locator('tr[data-zone="B"] td.occupied')).to_have_text("4")
    assert not page.locator("#session-dialog").is_visible()


def test_an_expired_session_is_said_on_the_page_not_retried_behind_it(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.route(STREAM, lambda route: route.fulfill(status=401, body="not logged in"))
    page.goto("/console/admin/site")
    expect(page.locator("#site-live")).to_have_attribute("data-live", "no")
    page.context.clear_cookies()  # the session is gone when the page next tries
    expect(page.locator("#session-dialog")).to_be_visible()
    expect(page.locator("#session-dialog")).to_contain_text("登录已过期")
