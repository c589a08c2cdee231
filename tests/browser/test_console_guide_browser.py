"""What the operator-guide writer found in the booth page's own script, in Debian chromium:
a visitor pass waits for a chosen host, a pedestrian is spoken of as a person, a close held
back by something on the loop says so, and a gate fault arriving live is worded for a guard
with the driver's text kept for the technician."""

from __future__ import annotations

from typing import Any

import pytest

from hardware.simulated import SimFault
from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_console_live_browser import (
    add_households,
    guard_page,
    passage,
    push_unread,
    resolve_reasons,
    toast_text,
)

pytestmark = pytest.mark.browser


def pedestrian_review(server: LiveServer) -> int:
    """A face the gate did not recognise at the pedestrian gate: a guard decides."""
    from models.db import transaction
    from models.events import Passage

    with transaction(server.services.sessions) as session:
        row = Passage(gate_id="ped-1", direction="in", decision="review", reason="face_unknown",
                      credential="face")
        session.add(row)
        session.flush()
        return row.id


def test_a_pass_needs_a_chosen_host_and_a_pedestrian_is_let_through_as_a_person(
    live_server: LiveServer, new_page: Any
) -> None:
    households = add_households(live_server, ("3栋", "1201"), ("5栋", "302"))
    car = push_unread(live_server)
    person = pedestrian_review(live_server)
    page = guard_page(new_page, live_server)

    card = page.locator(f'.review-card[data-passage="{car}"]')
    card.locator('input[name="plate"]').fill("闽A12345")
    card.locator('select[name="preset"]').select_option(label="访客无通行证，业主确认")
    card.locator('button[data-resolution="visitor_pass"]').click()  # shows host and duration
    host = card.locator('select[name="host_household_id"]')
    assert host.input_value() == ""
    card.locator('button[data-resolution="visitor_pass"]').click()
    assert card.locator(".error").inner_text() == "请选择被访住户"
    assert page.evaluate("document.activeElement.name") == "host_household_id"
    assert passage(live_server, car).resolution is None  # nothing was sent
    host.select_option(label="5栋 302")
    card.locator('button[data-resolution="visitor_pass"]').click()
    card.wait_for(state="detached")
    assert "已登记访客通行证" in toast_text(page, "闽A12345")
    from models.vehicles import VisitorPass

    with live_server.services.sessions() as session:
        assert session.query(VisitorPass.host_household_id).scalar() == households[1]

    card = page.locator(f'.review-card[data-passage="{person}"]')
    card.locator('select[name="preset"]').select_option(label="访客无通行证，业主确认")
    card.locator('button[data-resolution="allow_once"]').click()
    ask = page.locator("#confirm-dialog")
    ask.wait_for()
    assert ask.locator("#confirm-dialog-title").inner_text() == "确认放行这位行人？"
    assert "闸前的人未通过刷脸或密码验证" in ask.inner_text()
    assert "车牌" not in ask.inner_text() and "无牌车" not in ask.inner_text()
    screenshot(page, "40-confirm-pedestrian")
    ask.locator("#confirm-ok", has_text="已核实，放行").click()
    card.wait_for(state="detached")
    text = toast_text(page, "东门人行")
    assert text.startswith("东门人行：已放行 行人") and "无牌车" not in text
    assert resolve_reasons(live_server, person) == ["访客无通行证，业主确认（行人，已核实身份）"]


def on_the_server_loop(server: LiveServer, fn: Any, *args: Any) -> None:
    """Input listeners run on the event loop that drives the barrier (uvicorn's, here)."""
    loop = server.services.bus._loop
    assert loop is not None
    loop.call_soon_threadsafe(fn, *args)


def gate_action(page: Any, gate: str, action: str) -> None:
    page.click(f'.gate[data-gate="{gate}"] button[data-action="{action}"]')
    dialog = page.locator("#gate-dialog")
    dialog.locator("label.preset", has_text="设备故障处理").click()
    dialog.locator("#gate-confirm").click()


def test_a_close_held_back_by_the_loop_and_a_live_gate_fault_say_what_happened(
    live_server: LiveServer, new_page: Any
) -> None:
    barrier = live_server.services.barriers["main-in"]
    page = guard_page(new_page, live_server)
    gate_action(page, "main-in", "open")
    page.wait_for_selector('.gate[data-gate="main-in"][data-state="open"]')
    on_the_server_loop(live_server, barrier.presence_loop.set, True)  # a car on the loop

    gate_action(page, "main-in", "close")
    text = toast_text(page, "（当前状态：开启）")  # not the open's toast (正在开启)
    assert text == "东门入口：闸下有车辆或行人，道闸保持开启，离开后自动关闸（当前状态：开启）"
    assert "warn" in (page.locator("#toast").get_attribute("class") or "")
    assert str(barrier.state) == "open"
    on_the_server_loop(live_server, barrier.presence_loop.set, False)  # it drives off
    page.wait_for_selector('.gate[data-gate="main-in"][data-state="closed"]')

    # A fault reaches the strip over the live stream: worded by the page's own copy of the
    # server's table, the driver's English below it.
    live_server.services.barriers["main-out"].inject_fault(SimFault.OFFLINE)
    gate_action(page, "main-out", "open")
    page.locator("#gate-dialog .error").wait_for()
    page.click("#gate-cancel")
    fault = page.locator('.gate[data-gate="main-out"] [data-role="fault"]')
    fault.wait_for()
    assert fault.locator('[data-role="fault-summary"]').inner_text() == "故障：通信中断"
    raw = fault.locator('[data-role="fault-raw"]')
    assert raw.is_visible() and raw.inner_text() == "simulated barrier is offline"
    screenshot(page, "41-gate-fault-summary")


def test_the_visitor_box_finds_the_host_flat_by_what_is_typed(
    live_server: LiveServer, new_page: Any
) -> None:
    """Found by the guard's walk: guide 3.2 says to type 「5栋 302」 in a search box to find the
    host flat, but the review card's visitor box had only the list (hundreds of flats in a
    real community, scrolled with a car waiting at the barrier)."""
    households = add_households(
        live_server, ("3栋", "1201"), ("5栋", "301"), ("5栋", "302"), ("8栋", "601")
    )
    car = push_unread(live_server)
    page = guard_page(new_page, live_server)

    card = page.locator(f'.review-card[data-passage="{car}"]')
    card.locator('input[name="plate"]').fill("闽A12345")
    card.locator('select[name="preset"]').select_option(label="访客无通行证，业主确认")
    card.locator('button[data-resolution="visitor_pass"]').click()  # shows host and duration
    search = card.locator("input.household-search")
    assert page.evaluate("document.activeElement.className") == "household-search"
    host = card.locator('select[name="host_household_id"]')
    shown = 'Array.from(s.options).filter((o) => !o.hidden && o.value).map((o) => o.text)'
    search.press_sequentially("５栋")  # full width, as a Chinese input method may type it
    assert host.evaluate(f"(s) => {shown}") == ["5栋 301", "5栋 302"]
    assert host.input_value() == ""  # two flats left: the guard still picks one
    search.press_sequentially(" 302")
    assert host.evaluate(f"(s) => {shown}") == ["5栋 302"]
    assert host.input_value() == str(households[2])  # the one flat left is chosen
    screenshot(page, "43-visitor-host-search")
    card.locator('button[data-resolution="visitor_pass"]').click()
    card.wait_for(state="detached")
    assert "已登记访客通行证" in toast_text(page, "闽A12345")
    from models.vehicles import VisitorPass

    with live_server.services.sessions() as session:
        assert session.query(VisitorPass.host_household_id).scalar() == households[2]
