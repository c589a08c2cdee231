"""The booth page on the screens booths have, in Debian chromium: at 1366x768 the live
passages table fits its card (no sideways scrolling), the 原因 and 住户/通行证 columns are
on screen and a failed open's 「人工开闸放行」 lies whole inside the window, clickable; the gate
cards show their direction. 1920x1080 shows everything too; on a phone the table scrolls
inside its card, as before, and the button is whole once scrolled to."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hardware.simulated import SimFault
from tests.browser.conftest import LiveServer, screenshot
from tests.browser.test_console_live_browser import add_households, guard_page, push_unread

pytestmark = pytest.mark.browser

BOOTH = {"width": 1366, "height": 768}
WIDE = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}

LONG_REASON = "访客无通行证，业主电话确认后放行，车辆在门口等候了较长时间"


def guard_api(server: LiveServer) -> httpx.Client:
    token = server.services.signer.issue("guard", "guard")
    return httpx.Client(base_url=server.base_url, timeout=30,  # as admin_api's
                        headers={"Authorization": f"Bearer {token}"})


def busy_evening(server: LiveServer) -> int:
    """The rows that make the table widest: snapshots, a resolved review with a guard's long
    reason, residents and a pass, look-alike reads, a refused car and — newest, at the top —
    an allowed car whose barrier did not open. Returns that passage's id."""
    from models.db import transaction
    from models.events import Passage

    household, _ = add_households(server, ("12栋", "2301"), ("5栋", "302"))
    reviewed = push_unread(server)
    with guard_api(server) as api:
        answer = api.post(f"/api/v1/passages/{reviewed}/resolve",
                          json={"resolution": "deny", "reason": LONG_REASON})
        assert answer.status_code == 200, answer.text
    push_unread(server, "main-out")
    with transaction(server.services.sessions) as session:
        snapshot = session.get(Passage, reviewed).snapshot_path  # type: ignore[union-attr]
        common = {"direction": "in", "confidence": 0.97, "snapshot_path": snapshot}
        session.add_all([
            Passage(gate_id="main-in", plate="粤B12345", matched_plate="粤B12346",
                    decision="allow", reason="resident", household_id=household, **common),
            Passage(gate_id="main-in", plate="沪A77777", decision="allow", reason="visitor_pass",
                    pass_id=7, household_id=household, **common),
            Passage(gate_id="main-in", plate="苏E9K317", decision="deny", reason="blocked",
                    flags=["database_outage", "offline"], **common),
        ])
        session.flush()
        failed = Passage(gate_id="main-out", plate="浙A3Q776", decision="allow",
                         reason="exit_known_inside", household_id=household,
                         flags=["admission_undone"], **{**common, "direction": "out"})
        session.add(failed)
        session.flush()
        return failed.id


def horizontal_overflow(page: Any, selector: str) -> int:
    """How far the element's content reaches past its own box, in CSS pixels."""
    return int(page.evaluate(
        "s => { const el = document.querySelector(s); return el.scrollWidth - el.clientWidth; }",
        selector,
    ))


def inside_viewport(page: Any, locator: Any) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    assert box is not None
    # To the pixel: scrolled into view, a button can end 0.08 px below a window whose page
    # scrolls by whole pixels, which is on the screen all the same.
    left, top = round(box["x"]), round(box["y"])
    right, bottom = round(box["x"] + box["width"]), round(box["y"] + box["height"])
    return bool(left >= 0 and top >= 0 and box["width"] > 40
                and right <= size["width"] and bottom <= size["height"])


def hit_at_centre(page: Any, locator: Any) -> bool:
    """The element itself (not something over it) is what a tap at its centre reaches."""
    box = locator.bounding_box()
    assert box is not None
    return bool(page.evaluate(
        "([x, y, el]) => el.contains(document.elementFromPoint(x, y))",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, locator.element_handle()],
    ))


def open_booth(new_page: Any, server: LiveServer, viewport: dict[str, int], failed: int) -> Any:
    page = guard_page(new_page, server, viewport)
    page.locator(f'#passage-rows tr[data-id="{failed}"] button.passage-open').wait_for()
    return page


def test_the_passages_table_fits_a_1366_booth_screen_with_its_open_button_whole(
    live_server: LiveServer, new_page: Any
) -> None:
    failed = busy_evening(live_server)
    page = open_booth(new_page, live_server, BOOTH, failed)
    screenshot(page, "50-booth-1366")

    assert horizontal_overflow(page, "#passages .table-scroll") <= 0
    assert page.evaluate("document.documentElement.scrollWidth") <= BOOTH["width"]
    card = page.locator("#passages").bounding_box()
    assert card is not None
    for header in ("原因", "住户/通行证"):
        box = page.locator("#passages th", has_text=header).bounding_box()
        assert box is not None and box["x"] + box["width"] <= card["x"] + card["width"], header
    who = page.locator("#passage-rows tr", has_text="粤B12345").locator("td.who-cell")
    assert who.inner_text() == "12栋 2301"

    button = page.locator(f'#passage-rows tr[data-id="{failed}"] button.passage-open')
    button.scroll_into_view_if_needed()
    assert button.inner_text() == "人工开闸放行"
    assert inside_viewport(page, button) and hit_at_centre(page, button)
    button.click()
    dialog = page.locator("#gate-dialog")
    dialog.wait_for()
    assert "人工开闸放行 · 浙A3Q776" in dialog.locator("#gate-dialog-title").inner_text()
    page.click("#gate-cancel")

    # A gate opening for a car has the longest state (正在开启): its card still says which
    # way the gate goes, not 「main-out · …」.
    live_server.services.barriers["main-out"].inject_fault(SimFault.SLOW)  # opens in 6 s
    with guard_api(live_server) as api:
        opened = api.post("/api/v1/gates/main-out/actions",
                          json={"action": "open", "reason": "设备检查"})
        assert opened.status_code == 200, opened.text
    page.wait_for_selector('.gate[data-gate="main-out"][data-state="opening"]')
    assert_gate_directions_shown(page)


def assert_gate_directions_shown(page: Any) -> None:
    for gate, direction in (("main-in", "入口"), ("main-out", "出口"), ("ped-1", "入口")):
        meta = page.locator(f'.gate[data-gate="{gate}"] .gate-meta')
        assert meta.inner_text() == f"{direction} · {gate}"
        assert page.evaluate("el => el.scrollWidth <= el.clientWidth", meta.element_handle())


def test_a_guard_corrected_plate_keeps_the_table_inside_a_1366_booth_screen(
    live_server: LiveServer, new_page: Any
) -> None:
    """A review the guard let in under a plate typed over the camera's misread shows both
    (read → corrected): the pair breaks onto two lines rather than pushing 住户/通行证 out
    of the card (found walking the demo: 50 px of sideways scroll from one such row)."""
    from models.db import transaction
    from models.events import Passage

    failed = busy_evening(live_server)
    with transaction(live_server.services.sessions) as session:
        session.add(Passage(
            gate_id="main-in", direction="in", plate="粤BD12345", confidence=0.97,
            decision="review", reason="unknown_plate", resolution="allowed_once",
            resolved_plate="粤BD12346", resolved_by="guard",
        ))
    page = open_booth(new_page, live_server, BOOTH, failed)
    corrected = page.locator("#passage-rows tr", has_text="粤BD12346").locator("td.plate")
    assert " ".join(corrected.inner_text().split()) == "粤BD12345 → 粤BD12346"
    screenshot(page, "53-booth-1366-corrected-plate")

    assert horizontal_overflow(page, "#passages .table-scroll") <= 0
    card = page.locator("#passages").bounding_box()
    box = page.locator("#passages th", has_text="住户/通行证").bounding_box()
    assert card is not None and box is not None
    assert box["x"] + box["width"] <= card["x"] + card["width"]


def test_a_1920_screen_shows_the_whole_table_too(live_server: LiveServer, new_page: Any) -> None:
    failed = busy_evening(live_server)
    page = open_booth(new_page, live_server, WIDE, failed)
    screenshot(page, "51-booth-1920")
    assert horizontal_overflow(page, "#passages .table-scroll") <= 0
    button = page.locator(f'#passage-rows tr[data-id="{failed}"] button.passage-open')
    assert inside_viewport(page, button) and hit_at_centre(page, button)
    assert_gate_directions_shown(page)


def test_on_a_phone_the_table_scrolls_in_its_card_and_the_open_button_is_reached(
    live_server: LiveServer, new_page: Any
) -> None:
    """390 px cannot hold eight columns: the table scrolls inside its card (never the page),
    and scrolling to the button shows it whole."""
    failed = busy_evening(live_server)
    page = open_booth(new_page, live_server, PHONE, failed)
    screenshot(page, "52-booth-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    button = page.locator(f'#passage-rows tr[data-id="{failed}"] button.passage-open')
    button.scroll_into_view_if_needed()
    assert inside_viewport(page, button) and hit_at_centre(page, button)
    assert_gate_directions_shown(page)


# Each text inside a .plate (a plate, or 车牌 and its plate) as [text, lines it is laid on].
PLATE_LINES = """() => Array.from(document.querySelectorAll('.plate')).flatMap(el => {
  const out = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
    out.push([node.textContent.trim(), new Set(rects.map(r => Math.round(r.top))).size]);
  }
  return out;
})"""


def test_on_a_phone_no_plate_breaks_across_lines(live_server: LiveServer, new_page: Any) -> None:
    """At 390 px the alarm said 车牌 沪 / K60613: a line break after the province character, as
    Chinese text may break anywhere. A plate is one word, in the alarms, the review queue and
    the passages alike."""
    from models.db import transaction
    from models.events import Alarm, Passage

    # The blocked car's alarm as the booth showed it: with its 抓拍 link, so a camera photo.
    photographed = push_unread(live_server)
    with transaction(live_server.services.sessions) as session:
        snapshot = session.get(Passage, photographed).snapshot_path  # type: ignore[union-attr]
        blocked = Passage(gate_id="main-in", direction="in", plate="沪K60613", decision="deny",
                          reason="blocked", confidence=0.97, snapshot_path=snapshot)
        session.add_all([blocked, Passage(
            gate_id="main-in", direction="in", plate="粤B12345", decision="review",
            reason="unknown_plate", confidence=0.97)])
        session.flush()
        session.add(Alarm(kind="blocked_plate", gate_id="main-in", passage_id=blocked.id,
                          message="blocked_plate at main-in: 沪K60613"))
    page = guard_page(new_page, live_server, PHONE)
    page.locator(".alarm .alarm-snapshot").wait_for()
    page.locator(".review-card .plate", has_text="粤B12345").wait_for()
    screenshot(page, "54-phone-plates")
    laid = page.evaluate(PLATE_LINES)
    texts = [text for text, _ in laid]
    assert "车牌 沪K60613" in texts and "粤B12345" in texts and "沪K60613" in texts, laid
    assert [(text, lines) for text, lines in laid if lines > 1] == []
