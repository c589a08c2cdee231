"""The guard's console in a real browser (Debian chromium via Playwright), against a real
server with real photos, the real recogniser and the simulated barriers (issue 6)."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.browser.conftest import (
    PASSWORD,
    STREAM_TIMEOUT_MS,
    LiveServer,
    enter_as,
    login,
    screenshot,
)
from tests.conftest import LabelledPhoto

pytestmark = pytest.mark.browser


def push_frame(server: LiveServer, gate: str, photo: LabelledPhoto) -> dict[str, Any]:
    response = httpx.post(
        f"{server.base_url}/api/v1/gates/{gate}/frames",
        content=photo.path.read_bytes(),
        headers={"X-API-Key": "test-camera-key", "Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(server: LiveServer, username: str) -> dict[str, str]:
    token = httpx.post(
        f"{server.base_url}/api/v1/auth/token",
        data={"username": username, "password": PASSWORD},
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def wait_live(page: Any) -> None:
    """The SSE stream said hello: events published from now on reach the page."""
    page.wait_for_selector('#live-dot[data-live="yes"]', timeout=STREAM_TIMEOUT_MS)


def test_guard_logs_in_and_sees_a_passage_arrive_live(
    live_server: LiveServer, new_page: Any, readable_photos: list[LabelledPhoto]
) -> None:
    page = new_page()
    page.goto("/console")
    page.wait_for_url("**/console/login**")
    screenshot(page, "01-login")
    login(page, "guard")
    wait_live(page)
    assert page.locator("h2", has_text="实时通行记录").is_visible()
    assert page.locator("#no-passages").is_visible()

    photo = readable_photos[1]  # not registered: the controller asks the guard
    result = push_frame(live_server, "main-in", photo)

    row = page.locator(f'#passage-rows tr[data-id="{result["passage_id"]}"]')
    row.wait_for()
    assert photo.plate in row.inner_text()
    assert "待人工" in row.inner_text() and "东门入口" in row.inner_text()
    card = page.locator(f'.review-card[data-passage="{result["passage_id"]}"]')
    card.wait_for()
    assert page.locator("#review-count").inner_text() == "1"
    # The thumbnail is served by the snapshot API with the session cookie.
    thumb = row.locator("img.thumb")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
    )
    thumb.click()
    page.locator("#lightbox[open]").wait_for()
    screenshot(page, "02-console-live-passage")
    page.locator("#lightbox").click()

    page.select_option("#filter-decision", "allow")
    assert row.is_hidden()
    # Found by the guard's walk: a filter that hid every row left the header alone.
    expect(page.locator("#no-filtered")).to_have_text("没有符合条件的通行记录")
    page.select_option("#filter-decision", "review")
    assert row.is_visible()
    expect(page.locator("#no-filtered")).to_be_hidden()


def test_guard_opens_a_gate_with_a_reason_and_admin_finds_the_audit_row(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    wait_live(page)
    page.click('.gate[data-gate="main-in"] button[data-action="open"]')
    dialog = page.locator("#gate-dialog")
    dialog.wait_for()
    dialog.locator("button#gate-confirm").click()  # no reason yet: refused in the page
    assert "请选择或填写原因" in dialog.locator(".error").inner_text()
    dialog.locator("label.preset", has_text="救护车/消防/警车").click()
    dialog.locator('input[name="reason_text"]').fill("120急救车")
    screenshot(page, "03-gate-dialog")
    dialog.locator("button#gate-confirm").click()
    page.wait_for_selector("#gate-dialog", state="hidden")
    page.wait_for_selector('.gate[data-gate="main-in"] .gate-state.state-open')
    assert str(live_server.services.barriers["main-in"].state) in ("open", "closing", "closed")

    admin = new_page()
    enter_as(admin, live_server, "admin", "admin")
    admin.goto("/console/admin/audit?action=gate")
    row = admin.locator('#audit-rows tr[data-action="gate.open"]')
    row.wait_for()
    text = row.inner_text()
    assert "guard" in text and "main-in" in text and "救护车/消防/警车：120急救车" in text
    screenshot(admin, "04-admin-audit")
    csv_href = admin.locator("#csv-export").get_attribute("href")
    assert csv_href is not None and csv_href.startswith("/api/v1/audit.csv?action=gate")
    export = admin.request.get(csv_href)
    assert export.ok and "120急救车" in export.text()


def test_a_barrier_fault_shows_in_the_dialog_and_raises_an_alarm_banner(
    live_server: LiveServer, new_page: Any
) -> None:
    from hardware.simulated import SimFault

    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    wait_live(page)
    page.click("#sound-toggle")
    assert page.locator("#sound-toggle").get_attribute("aria-pressed") == "true"
    assert page.locator("#sound-toggle").inner_text() == "提示音：开"
    live_server.services.barriers["main-out"].inject_fault(SimFault.OFFLINE)
    page.click('.gate[data-gate="main-out"] button[data-action="open"]')
    dialog = page.locator("#gate-dialog")
    dialog.locator("label.preset", has_text="设备故障处理").click()
    dialog.locator("button#gate-confirm").click()
    error = dialog.locator(".error")
    error.wait_for()
    page.wait_for_function("el => el.textContent.includes('offline')", arg=error.element_handle())
    page.click("#gate-cancel")
    page.wait_for_selector("#alarm-banner.active .alarm")
    page.wait_for_selector('.gate[data-gate="main-out"][data-state="fault"]')
    assert "设备故障" in page.locator("#alarm-banner").inner_text()
    screenshot(page, "10-alarm-banner")
    # 确认处理 with a note on what the guard found: too long, it is refused in the dialog (in
    # Chinese) and the alarm stays; then kept with the acknowledgement.
    fault = page.locator('#alarm-banner .alarm[data-kind="hardware_fault"]').first
    fault_id = fault.get_attribute("data-alarm-id")
    fault.locator("button[data-ack]").click()
    ack = page.locator("#ack-dialog")
    ack.wait_for()
    assert "处理情况（可不填）" in ack.inner_text()
    ack.locator('input[name="note"]').fill("核" * 501)
    ack.locator("#ack-confirm").click()
    ack.locator(".error", has_text="最多 500 个字符").wait_for()
    screenshot(page, "11-alarm-ack-note")
    assert page.locator(f'.alarm[data-alarm-id="{fault_id}"]').count() == 1
    ack.locator('input[name="note"]').fill("已报修，维修人员在路上")
    ack.locator('input[name="note"]').press("Enter")
    page.wait_for_selector("#ack-dialog", state="hidden")
    page.wait_for_selector(f'.alarm[data-alarm-id="{fault_id}"]', state="detached")
    acked = httpx.get(
        f"{live_server.base_url}/api/v1/alarms",
        params={"state": "acknowledged"},
        headers=bearer(live_server, "guard"),
    ).json()["items"]
    assert [(a["id"], a["acknowledged_note"]) for a in acked] == [
        (int(fault_id or 0), "已报修，维修人员在路上")
    ]
    # The rest without a note. The banner is drawn again after each acknowledgement: a button
    # counted a moment ago may be gone by the click, which would then wait its whole timeout.
    deadline = time.monotonic() + 30
    while page.locator("#alarm-banner button[data-ack]").count():
        assert time.monotonic() < deadline, "alarms still waiting for acknowledgement"
        with contextlib.suppress(PlaywrightTimeout):
            page.locator("#alarm-banner button[data-ack]").first.click(timeout=2000)
            page.click("#ack-confirm", timeout=2000)
            page.wait_for_selector("#ack-dialog", state="hidden", timeout=2000)
        if page.locator("#ack-dialog[open]").count():  # its alarm went before the click
            page.click("#ack-cancel")
        page.wait_for_timeout(200)
    page.wait_for_selector("#alarm-banner:not(.active)")


def test_guard_resolves_a_review_into_a_visitor_pass(
    live_server: LiveServer, new_page: Any, readable_photos: list[LabelledPhoto]
) -> None:
    headers = bearer(live_server, "admin")
    household = httpx.post(
        f"{live_server.base_url}/api/v1/households",
        json={"building": "3栋", "unit": "1201"},
        headers=headers,
    )
    assert household.status_code == 201, household.text
    photo = readable_photos[2]
    passage_id = push_frame(live_server, "main-in", photo)["passage_id"]

    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    card = page.locator(f'.review-card[data-passage="{passage_id}"]')
    card.wait_for()
    card.locator('button[data-resolution="visitor_pass"]').click()  # shows host + duration
    card.locator('select[name="host_household_id"]').select_option(label="3栋 1201")
    card.locator('select[name="hours"]').select_option("4")
    card.locator('select[name="preset"]').select_option(label="访客无通行证，业主确认")
    screenshot(page, "05-review-visitor-pass")
    card.locator('button[data-resolution="visitor_pass"]').click()
    card.wait_for(state="detached")
    page.wait_for_selector("#review-list .quiet")
    page.wait_for_selector(f'#passage-rows tr[data-id="{passage_id}"] .badge.resolved')

    passage = httpx.get(
        f"{live_server.base_url}/api/v1/passages/{passage_id}", headers=headers
    ).json()
    assert (passage["resolution"], passage["resolved_by"]) == ("visitor_pass", "guard")
    assert passage["resolved_plate"] == photo.plate
    passes = httpx.get(
        f"{live_server.base_url}/api/v1/passes", params={"plate": photo.plate}, headers=headers
    ).json()
    assert len(passes) == 1 and passes[0]["uses"] == 1
    valid_to = datetime.fromisoformat(passes[0]["valid_to"])
    assert timedelta(hours=3.9) < valid_to - datetime.now(UTC) <= timedelta(hours=4)


def test_guard_cannot_reach_admin_pages_and_csrf_is_enforced(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    assert page.locator("nav a", has_text="操作日志").count() == 0
    response = page.goto("/console/admin/users")
    assert response is not None and response.status == 403
    assert page.locator("h1", has_text="无权访问").is_visible()
    screenshot(page, "06-guard-refused")

    statuses = page.evaluate(
        """async () => {
            const body = JSON.stringify({action: "close", reason: "测试跨站请求"});
            const headers = {"Content-Type": "application/json"};
            const bare = await fetch("/api/v1/gates/main-out/actions",
                                     {method: "POST", headers, body});
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const signed = await fetch("/api/v1/gates/main-out/actions", {
                method: "POST", headers: {...headers, "X-CSRF-Token": token}, body});
            return [bare.status, signed.status];
        }"""
    )
    assert statuses == [403, 200]


def test_admin_pages_render_in_chinese_and_english(live_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/households")
    page.fill('form[data-api="/api/v1/households"] input[name="building"]', "5栋")
    page.fill('form[data-api="/api/v1/households"] input[name="unit"]', "302")
    page.click('form[data-api="/api/v1/households"] button[type="submit"]')
    page.wait_for_selector("td:text-is('302')")
    page.select_option(
        'form[data-api="/api/v1/vehicles"] select[name="household_id"]', label="5栋 302"
    )
    page.fill('form[data-api="/api/v1/vehicles"] input[name="plate"]', "闽A1234")  # too short
    page.click('form[data-api="/api/v1/vehicles"] button[type="submit"]')
    error = page.locator('form[data-api="/api/v1/vehicles"] .error')
    error.wait_for()
    assert "车牌" in error.inner_text()
    screenshot(page, "07-admin-households")
    for name in ("users", "passes", "lists"):
        page.goto(f"/console/admin/{name}")
        screenshot(page, f"08-admin-{name}")
    page.goto("/console")
    page.click("#lang-switch")
    page.wait_for_selector("h2:text('Live passages')")
    screenshot(page, "09-console-english")


def test_admin_reads_a_day_report_with_its_chart(live_server: LiveServer, new_page: Any) -> None:
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.click("nav a:text('报表')")
    page.wait_for_selector("#report-figures")
    chart = page.locator("#occupancy-chart")
    chart.scroll_into_view_if_needed()
    # The chart is drawn for the logged-in admin under the page's CSP: it must really load.
    page.wait_for_load_state("load")  # images included
    assert chart.evaluate("img => img.complete && img.naturalWidth") >= 1000
    today = page.input_value('input[name="day"]')
    assert page.locator("#day-after").count() == 0  # no day after today
    page.click("#day-before")
    page.wait_for_url("**/console/admin/reports?day=*")
    assert page.input_value('input[name="day"]') < today
    assert page.locator("#day-after").count() == 1
    screenshot(page, "10-admin-report")
