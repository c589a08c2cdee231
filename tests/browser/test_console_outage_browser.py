"""A booth screen open when the database goes away, in Debian chromium: the barrier fault
raised meanwhile appears in the alarm list marked not stored yet, the alarms shown before stay,
acknowledging one says the database is unavailable, and once the journal is written back the
list holds the stored alarm once, with its acknowledge button (tests/db_outage.py cuts the
database for real)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from hardware.simulated import SimFault
from models.db import transaction
from models.people import Household
from models.vehicles import Vehicle
from tests.api.test_console import add_staff
from tests.api.test_database_outage import FAST, RESIDENT, gate_frame, wait_for
from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.db_outage import DatabaseOutage
from tests.live_server import free_port, running

pytestmark = pytest.mark.browser


@pytest.fixture
def outage_server(
    make_settings: Any, plate_recognizer: Any, outage: DatabaseOutage
) -> Iterator[LiveServer]:
    """The app on a free port, its database behind ``outage``; a guard and a resident's car."""
    import uvicorn

    from api.app import create_app
    from services.container import build_services

    services = build_services(make_settings(database_url=outage.url, **FAST),
                              recognizer=plate_recognizer)
    add_staff(services, "guard", "guard")
    with transaction(services.sessions) as session:
        household = Household(building="3栋", unit="1201")
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=RESIDENT, household_id=household.id))
    with services.store.unit() as unit:  # an alarm the guard has on screen before the outage
        unit.raise_alarm("pin_locked", gate_id="ped-1", passage_id=None,
                         message="pin_locked at ped-1: resident 4", at=datetime.now(UTC))
    app = create_app(services)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on", timeout_graceful_shutdown=3)
    try:
        with running(config):
            yield LiveServer(f"http://127.0.0.1:{port}", app)
    finally:
        services.engine.dispose()


def test_a_fault_during_an_outage_is_listed_unstored_then_stored(
    outage_server: LiveServer, outage: DatabaseOutage, chromium: Any
) -> None:
    services = outage_server.services
    # The gates decide offline from the snapshot the controller refreshes every 0.2 s here.
    wait_for(lambda: RESIDENT in getattr(services.offline_file.load(), "permits", {}))
    services.barriers["main-in"].inject_fault(SimFault.OFFLINE)
    context = chromium.new_context(base_url=outage_server.base_url, locale="zh-CN",
                                   timezone_id="Asia/Shanghai",
                                   viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        enter_as(page, outage_server, "guard", "guard")
        page.wait_for_selector('#live-dot[data-live="yes"]')
        kept = page.locator('.alarm[data-kind="pin_locked"]')
        assert kept.count() == 1

        outage.cut(services.engine)
        car = httpx.post(
            f"{outage_server.base_url}/api/v1/gates/main-in/frames", content=gate_frame(RESIDENT),
            headers={"X-API-Key": "test-camera-key", "Content-Type": "image/jpeg"}, timeout=30,
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
        page.wait_for_function(
            "() => !document.getElementById('toast').hidden"
            " && document.getElementById('toast').textContent.includes('数据库暂时不可用')"
        )

        outage.restore()
        stored = page.locator('.alarm[data-kind="hardware_fault"]:not(.unstored)')
        stored.wait_for(timeout=30_000)
        deadline = time.monotonic() + 10
        while page.locator(".alarm.unstored").count() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert page.locator(".alarm.unstored").count() == 0
        assert stored.count() == 1 and stored.locator("button[data-ack]").count() == 1
        assert page.locator("#alarm-list[data-database]").count() == 0
        assert kept.count() == 1
    finally:
        context.close()
