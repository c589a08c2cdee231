"""A booth screen open when the database goes away, in Debian chromium: the barrier fault
raised meanwhile appears in the alarm list marked not stored yet, the alarms shown before stay,
acknowledging one says the database is unavailable, and once the journal is written back the
list holds the stored alarm once, with its acknowledge button (tests/db_outage.py cuts the
database for real)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from controllers.ports import ADMISSION_UNDONE
from hardware.simulated import SimFault
from models.db import transaction
from models.events import AuditEntry, Passage
from models.people import Household
from models.vehicles import Vehicle
from tests.api.test_console import add_staff
from tests.api.test_database_outage import FAST, RESIDENT, gate_frame, wait_for
from tests.browser.conftest import LiveServer, browser_context, enter_as, screenshot, serving
from tests.db_outage import DatabaseOutage

pytestmark = pytest.mark.browser


@pytest.fixture
def outage_server(
    make_settings: Any, plate_recognizer: Any, outage: DatabaseOutage
) -> Iterator[LiveServer]:
    """The app on a free port, its database behind ``outage``; a guard and a resident's car."""
    from services.container import build_services

    services = build_services(
        make_settings(database_url=outage.url, **FAST), recognizer=plate_recognizer
    )
    add_staff(services, "guard", "guard")
    with transaction(services.sessions) as session:
        household = Household(building="3栋", unit="1201")
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=RESIDENT, household_id=household.id))
    with services.store.unit() as unit:  # an alarm the guard has on screen before the outage
        unit.raise_alarm(
            "pin_locked",
            gate_id="ped-1",
            passage_id=None,
            message="pin_locked at ped-1: resident 4",
            at=datetime.now(UTC),
        )
    with serving(services) as server:
        yield server


def test_a_fault_during_an_outage_is_listed_unstored_then_stored(
    outage_server: LiveServer, outage: DatabaseOutage, chromium: Any
) -> None:
    services = outage_server.services
    # The gates decide offline from the snapshot the controller refreshes every 0.2 s here.
    wait_for(lambda: RESIDENT in getattr(services.offline_file.load(), "permits", {}))
    services.barriers["main-in"].inject_fault(SimFault.OFFLINE)
    context = browser_context(chromium, outage_server.base_url)
    try:
        page = context.new_page()
        enter_as(page, outage_server, "guard", "guard")
        page.wait_for_selector('#live-dot[data-live="yes"]')
        kept = page.locator('.alarm[data-kind="pin_locked"]')
        assert kept.count() == 1

        outage.cut(services.engine)
        car = httpx.post(
            f"{outage_server.base_url}/api/v1/gates/main-in/frames",
            content=gate_frame(RESIDENT),
            headers={"X-API-Key": "test-camera-key", "Content-Type": "image/jpeg"},
            timeout=30,
        ).json()
        assert car["journal_id"] and car["barrier"] == "fault", car

        unstored = page.locator('.alarm.unstored[data-kind="hardware_fault"]')
        unstored.wait_for()
        assert "未保存" in unstored.inner_text()
        assert unstored.locator("button").count() == 0
        assert "数据库暂时不可用" in page.locator("#alarm-list .alarm-note").inner_text()
        assert kept.count() == 1  # what the page showed stays while it cannot be read again
        assert page.locator("#alarm-banner").get_attribute("class").split()[-1] == "active"
        screenshot(page, "console-alarms-during-outage")
        kept.locator("button[data-ack]").click()
        page.click("#ack-confirm")
        page.wait_for_function(
            "() => !document.querySelector('#ack-form .error').hidden && document"
            ".querySelector('#ack-form .error').textContent.includes('数据库暂时不可用')"
        )
        page.click("#ack-cancel")

        outage.restore()
        stored = page.locator('.alarm[data-kind="hardware_fault"]:not(.unstored)')
        stored.wait_for(timeout=30_000)
        expect(page.locator(".alarm.unstored")).to_have_count(0)
        assert stored.count() == 1 and stored.locator("button[data-ack]").count() == 1
        assert page.locator("#alarm-list[data-database]").count() == 0
        assert kept.count() == 1
    finally:
        context.close()


def push_frame(server: LiveServer, gate: str, plate: str) -> dict[str, Any]:
    response = httpx.post(
        f"{server.base_url}/api/v1/gates/{gate}/frames",
        content=gate_frame(plate),
        headers={"X-API-Key": "test-camera-key", "Content-Type": "image/jpeg"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_degraded_console_opens_a_gate_for_a_visitor(
    outage_server: LiveServer, outage: DatabaseOutage, chromium: Any
) -> None:
    """A guard reloads the booth page during an outage: the page says the database is away,
    keeps the gate strip, shows the cars as the gates journal them, and 开闸 with a reason
    opens the barrier; the action reaches the audit log once the database is back, and the
    page becomes the full one by itself."""
    services = outage_server.services
    wait_for(lambda: RESIDENT in getattr(services.offline_file.load(), "permits", {}))
    context = browser_context(chromium, outage_server.base_url)
    try:
        page = context.new_page()
        enter_as(page, outage_server, "guard", "guard")  # seen active before the outage
        page.wait_for_selector('#live-dot[data-live="yes"]')

        outage.cut(services.engine)
        visitor = "粤B67890"  # no pass, no car on record: a guard's decision
        first = push_frame(outage_server, "main-in", visitor)
        assert first["journal_id"] and first["decision"] == "review", first
        # The page open since before the outage shows it live, from the journal.
        page.locator(f'tr[data-journal="{first["journal_id"]}"]').wait_for()

        page.reload()
        banner = page.locator("#outage-banner")
        assert "数据库暂时不可用" in banner.inner_text()
        assert page.locator("#waiting-passages").inner_text() == "1"
        assert "待人工处理和访客登记暂停" in page.locator("#review").inner_text()
        row = page.locator(f'tr[data-journal="{first["journal_id"]}"]')
        assert visitor in row.inner_text() and "离线判定" in row.inner_text()
        page.wait_for_selector('#live-dot[data-live="yes"]')  # the stream reconnected
        second = push_frame(outage_server, "main-in", "粤B12121")
        page.locator(f'tr[data-journal="{second["journal_id"]}"]').wait_for()
        screenshot(page, "console-degraded-during-outage")

        page.click('.gate[data-gate="main-in"] button[data-action="open"]')
        dialog = page.locator("#gate-dialog")
        dialog.locator("label.preset", has_text="车牌无法识别").click()
        dialog.locator('input[name="reason_text"]').fill("业主本人，车牌识别错误")
        dialog.locator("#gate-confirm").click()
        page.wait_for_selector("#gate-dialog", state="hidden")
        toast = page.locator("#toast")
        page.wait_for_function(
            "el => !el.hidden && el.textContent.includes('东门入口：已开闸')",
            arg=toast.element_handle(),
        )
        assert "保存在本机" in toast.inner_text()
        assert str(services.barriers["main-in"].state) in ("opening", "open")
        assert page.locator('.gate[data-gate="main-in"]').get_attribute("data-state") in (
            "opening",
            "open",
        )
        page.wait_for_function(
            "() => document.getElementById('waiting-actions').textContent === '1'"
        )

        outage.restore()
        page.wait_for_selector("#outage-banner", state="detached", timeout=30_000)
        # The queue is back: the card comes with the reloaded page, or with the write-back's
        # passage event when the page reloaded before the journal reached the database.
        page.locator("#review-list .review-card").first.wait_for(timeout=15_000)
        wait_for(lambda: not services.audit_waiting())
        with transaction(services.sessions) as session:
            (entry,) = session.scalars(select(AuditEntry)).all()
            assert (entry.username, entry.action, entry.gate_id) == (
                "guard",
                "gate.open",
                "main-in",
            )
            assert entry.reason == "车牌无法识别：业主本人，车牌识别错误"
    finally:
        context.close()


def test_a_page_open_when_the_database_goes_away_pauses_its_review_queue(
    outage_server: LiveServer, outage: DatabaseOutage, chromium: Any
) -> None:
    """The booth page rendered before an outage used to keep offering 放行/拒绝 until the
    guard reloaded, each press failing with "数据库暂时不可用". Now the first sign of the
    outage (a review answered 503, a car decided offline) pauses the queue with the reduced
    console's note, the stored alarm stays on screen, and the full page comes back by itself
    with the database."""
    services = outage_server.services
    wait_for(lambda: RESIDENT in getattr(services.offline_file.load(), "permits", {}))
    context = browser_context(chromium, outage_server.base_url)
    paused = "#review-list[data-database='down'] #review-paused"
    try:
        page = context.new_page()
        enter_as(page, outage_server, "guard", "guard")
        page.wait_for_selector('#live-dot[data-live="yes"]')
        push_frame(outage_server, "main-in", "粤B67890")  # nobody's car: for the guard
        card = page.locator("#review-list .review-card")
        card.wait_for()

        # A guard who presses 拒绝 after the database went away.
        outage.cut(services.engine)
        card.locator('select[name="preset"]').select_option(label="车牌无法识别")
        card.locator('button[data-resolution="deny"]').click()
        note = page.locator(paused)
        note.wait_for()
        assert "待人工处理和访客登记暂停" in note.inner_text()
        assert "开闸" in note.inner_text()  # where to open the barrier instead
        assert "数据库暂时不可用" in card.locator(".error").inner_text()
        buttons = card.locator("button[data-resolution]")
        assert buttons.count() == 4
        assert all(buttons.nth(i).is_disabled() for i in range(4))
        assert card.locator('input[name="plate"]').is_disabled()
        assert page.locator('.alarm[data-kind="pin_locked"]').count() == 1  # stays on screen
        assert page.locator("#alarm-list .alarm-note").count() == 1
        # The gate strip still works from this page.
        assert page.locator('.gate[data-gate="main-in"] button[data-action="open"]').is_enabled()
        screenshot(page, "console-queue-paused-during-outage")

        outage.restore()  # the full page comes back by itself, its queue live again
        page.wait_for_selector(paused, state="detached", timeout=30_000)
        page.wait_for_selector("#review-list .review-card button[data-resolution='deny']:enabled")
        assert page.locator("#outage-banner").count() == 0

        # Untouched, the page notices the next outage from the first car decided offline.
        page.wait_for_selector('#live-dot[data-live="yes"]')
        outage.cut(services.engine)
        car = push_frame(outage_server, "main-in", "粤B12121")
        assert car["journal_id"], car
        page.locator(paused).wait_for()
        page.locator(f'tr[data-journal="{car["journal_id"]}"]').wait_for()
        assert page.locator(
            "#review-list .review-card button[data-resolution='deny']"
        ).first.is_disabled()
        outage.restore()
        page.wait_for_selector(paused, state="detached", timeout=30_000)
    finally:
        context.close()


def zone_a_occupied(server: LiveServer) -> int | None:
    """Cars counted in zone A, as boards read it; None while the counts are the last read
    before the outage."""
    body = httpx.get(f"{server.base_url}/api/v1/availability").json()
    if body.get("stale"):
        return None
    return int(next(z["capacity"] - z["free"] for z in body["zones"] if z["id"] == "A"))


def test_the_guard_opens_for_a_car_decided_offline_whose_barrier_failed_from_its_row(
    outage_server: LiveServer, outage: DatabaseOutage, chromium: Any
) -> None:
    """A resident's car is let in offline and its barrier's relay does not answer: its row,
    shown live from the journal, says 「道闸未开，未计通行」 and offers 「人工开闸放行」 as a
    stored row does. The guard opens with a reason; the gate opens, the row follows (the car
    is counted), and once the database is back the passage holds the open and zone A counts
    the car once."""
    services = outage_server.services
    wait_for(lambda: RESIDENT in getattr(services.offline_file.load(), "permits", {}))
    wait_for(lambda: zone_a_occupied(outage_server) is not None)
    assert zone_a_occupied(outage_server) == 0
    context = browser_context(chromium, outage_server.base_url)
    try:
        page = context.new_page()
        enter_as(page, outage_server, "guard", "guard")
        page.wait_for_selector('#live-dot[data-live="yes"]')

        outage.cut(services.engine)
        barrier = services.barriers["main-in"]
        barrier.inject_fault(SimFault.OFFLINE)
        car = push_frame(outage_server, "main-in", RESIDENT)
        barrier.clear_faults()
        assert (car["decision"], car["barrier"]) == ("allow", "fault"), car
        assert car["passage_id"] is None and car["journal_id"]

        # Shown before the barrier answered, read again once it failed.
        row = page.locator(f'#passage-rows tr[data-journal="{car["journal_id"]}"]')
        button = row.locator("button.passage-open")
        button.wait_for()
        assert button.inner_text() == "人工开闸放行"
        assert "道闸未开，未计通行" in row.inner_text() and "离线判定" in row.inner_text()
        screenshot(page, "console-offline-failed-open-row")

        button.click()
        dialog = page.locator("#gate-dialog")
        dialog.wait_for()
        assert RESIDENT in dialog.locator("#gate-dialog-title").inner_text()
        dialog.locator("label.preset", has_text="设备故障处理").click()
        dialog.locator('input[name="reason_text"]').fill("道闸离线，人工放行业主车辆")
        dialog.locator("#gate-confirm").click()
        page.wait_for_selector("#gate-dialog", state="hidden")
        toast = page.locator("#toast")
        page.wait_for_function(
            "el => !el.hidden && el.textContent.includes('已重新计入通行')",
            arg=toast.element_handle(),
        )
        assert "保存在本机" in toast.inner_text()  # the audit entry waits on disk
        assert str(barrier.state) in ("opening", "open")
        # The row follows: the gates count the car now, nothing left to open for.
        button.wait_for(state="detached")
        assert "道闸未开，未计通行" not in row.inner_text()

        outage.restore()
        wait_for(
            lambda: not services.runtime.journal_waiting() and not services.audit_waiting(),
            timeout_s=30,
        )
        with transaction(services.sessions) as session:
            passage = session.scalars(
                select(Passage).where(Passage.journal_id == car["journal_id"])
            ).one()
            (audit,) = session.scalars(
                select(AuditEntry).where(AuditEntry.action == "gate.open")
            ).all()
            passage_id, outcome, flags = passage.id, passage.barrier_outcome, passage.flags
            assert (audit.username, audit.passage_id) == ("guard", passage.id)
            assert audit.reason == "设备故障处理：道闸离线，人工放行业主车辆"
            assert audit.details["admission"] == "redone"
        assert outcome in ("opening", "open") and ADMISSION_UNDONE not in flags
        # The page comes back whole: the stored row, counted, without the button.
        stored = page.locator(f'#passage-rows tr[data-id="{passage_id}"]')
        stored.wait_for(timeout=30_000)
        assert "道闸未开，未计通行" not in stored.inner_text()
        assert stored.locator("button.passage-open").count() == 0
        wait_for(lambda: zone_a_occupied(outage_server) is not None)
        assert zone_a_occupied(outage_server) == 1  # one car, counted once
    finally:
        context.close()
