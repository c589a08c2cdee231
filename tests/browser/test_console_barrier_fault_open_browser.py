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


def car_at_a_dead_barrier(
    server: LiveServer, new_page: Any, photo: LabelledPhoto, unit: str
) -> tuple[Any, dict[str, Any]]:
    """A resident's car let in at main-in while the barrier's relay cannot be reached, the
    guard's live page open: the page and the frame push's answer."""
    admin = bearer(server, "admin")
    household = httpx.post(f"{server.base_url}/api/v1/households", headers=admin,
                           json={"building": "3栋", "unit": unit}).json()["id"]
    vehicle = httpx.post(f"{server.base_url}/api/v1/vehicles", headers=admin,
                         json={"plate": photo.plate, "household_id": household})
    assert vehicle.status_code == 201, vehicle.text

    page = new_page()
    enter_as(page, server, "guard", "guard")
    wait_live(page)

    barrier = server.services.barriers["main-in"]
    barrier.inject_fault(SimFault.OFFLINE)
    result = push_frame(server, "main-in", photo)
    barrier.clear_faults()
    assert (result["decision"], result["barrier"]) == ("allow", "fault")
    return page, result


def open_for_a_device_fault(page: Any, button: Any, plate: str) -> None:
    """The guard's 人工开闸放行 with the 设备故障处理 reason, until the page says the car was
    counted again."""
    button.click()
    dialog = page.locator("#gate-dialog")
    dialog.wait_for()
    assert plate in dialog.locator("#gate-dialog-title").inner_text()
    dialog.locator("label.preset", has_text="设备故障处理").click()
    dialog.locator("button#gate-confirm").click()
    page.wait_for_selector("#gate-dialog", state="hidden")
    toast = page.locator("#toast")
    page.wait_for_function(
        "el => el.textContent.includes('已重新计入通行')", arg=toast.element_handle()
    )


def gate_opens(server: LiveServer) -> list[tuple[str, int, str | None]]:
    """The audit log's gate opens: who, which passage, whether it gave the admission back."""
    audit = httpx.get(f"{server.base_url}/api/v1/audit", headers=bearer(server, "admin"),
                      params={"action": "gate.open"}).json()["items"]
    return [(a["username"], a["passage_id"], a["details"].get("admission")) for a in audit]


def test_the_guard_opens_from_the_failed_passages_row_and_the_car_is_counted(
    live_server: LiveServer, new_page: Any, readable_photos: list[LabelledPhoto]
) -> None:
    photo = readable_photos[0]
    page, result = car_at_a_dead_barrier(live_server, new_page, photo, "1201")
    assert occupied(live_server, "A") == 0

    # The history page shows the row as it is, without a button it has no script for.
    history = new_page()
    enter_as(history, live_server, "guard", "guard")
    history.goto("/console/history")
    history_row = history.locator(f'#history-rows tr[data-id="{result["passage_id"]}"]')
    history_row.wait_for()
    assert "道闸未开，未计通行" in history_row.inner_text()
    # (its photo is a button there too, enlarging it: common.js photoTable)
    assert history_row.locator("button.passage-open").count() == 0

    row = page.locator(f'#passage-rows tr[data-id="{result["passage_id"]}"]')
    button = row.locator("button.passage-open")
    button.wait_for()  # the row is re-rendered once the barrier's failure is written
    assert "道闸未开，未计通行" in row.inner_text()
    assert button.inner_text() == "人工开闸放行"
    screenshot(page, "30-failed-open-row")
    open_for_a_device_fault(page, button, photo.plate)
    # The row follows: counted now, so no flag and nothing left to open for.
    button.wait_for(state="detached")
    assert "道闸未开，未计通行" not in row.inner_text()
    assert occupied(live_server, "A") == 1

    assert gate_opens(live_server) == [("guard", result["passage_id"], "redone")]


def test_the_guard_opens_from_the_fault_alarm_in_the_banner(
    live_server: LiveServer, new_page: Any, readable_photos: list[LabelledPhoto]
) -> None:
    """The alarm beeps at the top of the page: its 人工开闸放行 is the row's, without looking
    for the row, and goes once the car is counted (the alarm stays until acknowledged)."""
    photo = readable_photos[1]
    page, result = car_at_a_dead_barrier(live_server, new_page, photo, "1202")

    alarm = page.locator('#alarm-list .alarm[data-kind="hardware_fault"]')
    button = alarm.locator(f'button.passage-open[data-passage="{result["passage_id"]}"]')
    button.wait_for()
    assert button.inner_text() == "人工开闸放行"
    screenshot(page, "31-failed-open-alarm")
    open_for_a_device_fault(page, button, photo.plate)
    button.wait_for(state="detached")
    assert alarm.count() == 1  # still there for the guard to acknowledge
    assert occupied(live_server, "A") == 1
    assert gate_opens(live_server) == [("guard", result["passage_id"], "redone")]
