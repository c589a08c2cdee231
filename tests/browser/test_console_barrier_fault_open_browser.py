"""The guard opens for the car whose barrier did not open, from that car's own row.

The row of an allowed passage whose barrier failed says 「道闸未开，未计通行」; its
「人工开闸放行」 opens the gate naming the passage, so the car is counted once through. The
gate strip's 开闸 names no passage. Real server, real photo and recogniser, chromium; the
simulated barrier's relay is unreachable for that one car.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hardware.simulated import SimFault
from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_browser import bearer, push_frame, wait_live
from tests.conftest import LabelledPhoto

pytestmark = pytest.mark.browser


def occupied(server: LiveServer, zone: str) -> int:
    zones = httpx.get(f"{server.base_url}/api/v1/availability").json()["zones"]
    return int(next(z["capacity"] - z["free"] for z in zones if z["id"] == zone))


def test_the_guard_opens_from_the_failed_passages_row_and_the_car_is_counted(
    live_server: LiveServer, new_page: Any, readable_photos: list[LabelledPhoto]
) -> None:
    admin = bearer(live_server, "admin")
    photo = readable_photos[0]
    household = httpx.post(f"{live_server.base_url}/api/v1/households", headers=admin,
                           json={"building": "3栋", "unit": "1201"}).json()["id"]
    vehicle = httpx.post(f"{live_server.base_url}/api/v1/vehicles", headers=admin,
                         json={"plate": photo.plate, "household_id": household})
    assert vehicle.status_code == 201, vehicle.text

    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    wait_live(page)

    barrier = live_server.services.barriers["main-in"]
    barrier.inject_fault(SimFault.OFFLINE)
    result = push_frame(live_server, "main-in", photo)
    barrier.clear_faults()
    assert (result["decision"], result["barrier"]) == ("allow", "fault")
    assert occupied(live_server, "A") == 0

    # The history page shows the row as it is, without a button it has no script for.
    history = new_page()
    enter_as(history, live_server, "guard", "guard")
    history.goto("/console/history")
    history_row = history.locator(f'#history-rows tr[data-id="{result["passage_id"]}"]')
    history_row.wait_for()
    assert "道闸未开，未计通行" in history_row.inner_text()
    assert history_row.locator("button").count() == 0

    row = page.locator(f'#passage-rows tr[data-id="{result["passage_id"]}"]')
    button = row.locator("button.passage-open")
    button.wait_for()  # the row is re-rendered once the barrier's failure is written
    assert "道闸未开，未计通行" in row.inner_text()
    assert button.inner_text() == "人工开闸放行"
    screenshot(page, "30-failed-open-row")
    button.click()
    dialog = page.locator("#gate-dialog")
    dialog.wait_for()
    assert photo.plate in dialog.locator("#gate-dialog-title").inner_text()
    dialog.locator("label.preset", has_text="设备故障处理").click()
    dialog.locator("button#gate-confirm").click()
    page.wait_for_selector("#gate-dialog", state="hidden")
    toast = page.locator("#toast")
    page.wait_for_function(
        "el => el.textContent.includes('已重新计入通行')", arg=toast.element_handle()
    )
    # The row follows: counted now, so no flag and nothing left to open for.
    button.wait_for(state="detached")
    assert "道闸未开，未计通行" not in row.inner_text()
    assert occupied(live_server, "A") == 1

    audit = httpx.get(f"{live_server.base_url}/api/v1/audit", headers=admin,
                      params={"action": "gate.open"}).json()["items"]
    assert [(a["username"], a["passage_id"], a["details"].get("admission")) for a in audit] == [
        ("guard", result["passage_id"], "redone")
    ]


def test_the_guard_opens_from_the_fault_alarm_in_the_banner(
    live_server: LiveServer, new_page: Any, readable_photos: list[LabelledPhoto]
) -> None:
    """The alarm beeps at the top of the page: its 人工开闸放行 is the row's, without looking
    for the row, and goes once the car is counted (the alarm stays until acknowledged)."""
    admin = bearer(live_server, "admin")
    photo = readable_photos[1]
    household = httpx.post(f"{live_server.base_url}/api/v1/households", headers=admin,
                           json={"building": "3栋", "unit": "1202"}).json()["id"]
    vehicle = httpx.post(f"{live_server.base_url}/api/v1/vehicles", headers=admin,
                         json={"plate": photo.plate, "household_id": household})
    assert vehicle.status_code == 201, vehicle.text

    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    wait_live(page)

    barrier = live_server.services.barriers["main-in"]
    barrier.inject_fault(SimFault.OFFLINE)
    result = push_frame(live_server, "main-in", photo)
    barrier.clear_faults()
    assert (result["decision"], result["barrier"]) == ("allow", "fault")

    alarm = page.locator('#alarm-list .alarm[data-kind="hardware_fault"]')
    button = alarm.locator(f'button.passage-open[data-passage="{result["passage_id"]}"]')
    button.wait_for()
    assert button.inner_text() == "人工开闸放行"
    screenshot(page, "31-failed-open-alarm")
    button.click()
    dialog = page.locator("#gate-dialog")
    dialog.wait_for()
    assert photo.plate in dialog.locator("#gate-dialog-title").inner_text()
    dialog.locator("label.preset", has_text="设备故障处理").click()
    dialog.locator("button#gate-confirm").click()
    page.wait_for_selector("#gate-dialog", state="hidden")
    toast = page.locator("#toast")
    page.wait_for_function(
        "el => el.textContent.includes('已重新计入通行')", arg=toast.element_handle()
    )
    button.wait_for(state="detached")
    assert alarm.count() == 1  # still there for the guard to acknowledge
    assert occupied(live_server, "A") == 1
    audit = httpx.get(f"{live_server.base_url}/api/v1/audit", headers=admin,
                      params={"action": "gate.open"}).json()["items"]
    assert [(a["username"], a["passage_id"], a["details"].get("admission")) for a in audit] == [
        ("guard", result["passage_id"], "redone")
    ]
