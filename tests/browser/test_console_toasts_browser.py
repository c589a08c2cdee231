"""What the console's toasts say, in Debian chromium: 取消常开 on a gate opening for a car says
nothing was held, on a hold whose arm is still rising that it was cancelled; adding a visitor
pass names the pass and its plate."""

from __future__ import annotations

from typing import Any

import pytest

from hardware.simulated import SimFault
from tests.browser.conftest import LiveServer, enter_as
from tests.browser.test_console_admin_browser import FORM, add_household, fill_pass, passes_for
from tests.browser.test_console_guide_browser import gate_action
from tests.browser.test_console_live_browser import guard_page, toast_text

pytestmark = pytest.mark.browser


def toast_class(page: Any) -> str:
    return str(page.locator("#toast").get_attribute("class") or "")


def test_a_release_says_whether_a_hold_was_there_while_the_arm_rises(
    live_server: LiveServer, new_page: Any
) -> None:
    for gate in ("main-in", "main-out"):
        live_server.services.barriers[gate].inject_fault(SimFault.SLOW)  # 6 s to open
    page = guard_page(new_page, live_server)

    # Opening for a car, held by nobody: the release changed nothing, and the toast says so.
    gate_action(page, "main-out", "open")
    assert toast_text(page, "已开闸") == "东门出口：已开闸（当前状态：正在开启）"
    gate_action(page, "main-out", "release")
    text = toast_text(page, "无需取消常开")
    assert text == "东门出口：未处于常开状态，无需取消常开（当前状态：正在开启）"
    assert "warn" in toast_class(page)

    # Held open by this page, the arm still rising (正在开启 too): the release cancels the
    # hold, and once up the arm is open, not held.
    gate_action(page, "main-in", "hold_open")
    assert toast_text(page, "已设为常开") == "东门入口：已设为常开（当前状态：正在开启）"
    gate_action(page, "main-in", "release")
    assert toast_text(page, "已取消常开") == "东门入口：已取消常开（当前状态：正在开启）"
    assert "warn" not in toast_class(page)
    page.wait_for_selector('.gate[data-gate="main-in"][data-state="open"]')


def test_adding_a_visitor_pass_says_so_naming_the_plate(
    live_server: LiveServer, new_page: Any
) -> None:
    add_household(live_server)
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    page.goto("/console/admin/passes")
    fill_pass(page, "粤b 12345")  # the server writes it the canonical way: the toast too
    page.click(f'{FORM} button[type="submit"]')
    page.locator("#pass-rows tr", has_text="粤B12345").wait_for()  # the page reloaded
    pass_id = passes_for(live_server, "粤B12345")[0]["id"]
    toast = page.locator("#toast")
    toast.wait_for()
    assert toast.inner_text() == f"已添加访客通行证 #{pass_id}：粤B12345"
    assert "bad" not in toast_class(page)

    page.reload()  # said once, not again on the next visit
    page.wait_for_timeout(300)
    assert toast.is_hidden()
