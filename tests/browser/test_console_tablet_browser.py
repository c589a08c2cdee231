"""The console on a tablet and a small booth PC, in Debian chromium with a fixed viewport: a
guard's tablet in the booth held upright (768x1024), a landscape tablet (1024x768) and a small
booth PC (1280x800). What each test checks was found wrong in a walk of the demo at these
sizes, logged in as a guard and as an admin (screenshots looked at)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, browser_context, enter_as, login, screenshot
from tests.browser.test_console_booth_fit_browser import PLATE_LINES, busy_evening, hit_at_centre
from tests.browser.test_console_live_browser import guard_page, push_unread
from tests.browser.test_console_small_screen_browser import (
    ONE_LINE,
    REASON_ROOM,
    TAP_AREA,
    a_community,
    an_alarm_for,
    sideways,
)

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 768, "height": 1024}
LANDSCAPE = {"width": 1024, "height": 768}
SMALL_PC = {"width": 1280, "height": 800}
TABLETS = (PORTRAIT, LANDSCAPE, SMALL_PC)

# Two lines of the header: two rows of 48 px entries (or buttons) and the bar's padding.
TWO_LINES = 125


def header_lines(page: Any) -> tuple[float, int, bool]:
    """[the header's height, the rows its shown menu entries take, the 菜单 button shown]."""
    return tuple(page.evaluate("""() => {
      const entries = Array.from(document.querySelectorAll('.nav a'))
        .filter(a => a.getClientRects().length);
      return [document.querySelector('header.topbar').getBoundingClientRect().height,
              new Set(entries.map(a => Math.round(a.getBoundingClientRect().top))).size,
              document.getElementById('nav-toggle').getClientRects().length > 0]; }"""))


@pytest.mark.parametrize("role", ["admin", "guard"])
def test_on_a_tablet_the_menu_takes_two_lines_at_most(
    live_server: LiveServer, new_page: Any, role: str
) -> None:
    """An admin's eleven entries, the title and the account's buttons took four lines (206 px)
    at 768 px and three (156 px) at 1024. The menu is now beside the title, on a line of its own
    under the title and the account's buttons, or (when even that line cannot hold it) folded
    behind 菜单 as on a phone; never more than two lines, no page wider than the screen."""
    page = new_page()
    enter_as(page, live_server, role, role)
    for viewport in TABLETS:
        page.set_viewport_size(viewport)
        for path in ("/console", "/console/history", "/console/alarms", "/console/admin/passes"):
            page.goto(path, wait_until="domcontentloaded")
            label = f"{role} {viewport['width']} {path}"
            height, rows, folded = header_lines(page)
            assert height <= TWO_LINES, (label, height)
            assert rows == (0 if folded else 1), (label, rows)
            assert sideways(page) == 0, label
        screenshot(page, f"80-tablet-{role}-{viewport['width']}")
        if folded:
            page.locator("#nav-toggle").click()
            entries = page.locator(".nav a").all()
            assert entries and all(entry.is_visible() for entry in entries), label
            for entry in [*entries, page.locator("#logout-form button")]:
                box = entry.bounding_box()
                assert box is not None and box["height"] >= 44, (entry.inner_text(), box)
                assert box["x"] + box["width"] <= viewport["width"], (entry.inner_text(), box)
                assert entry.evaluate(ONE_LINE), entry.inner_text()
        else:
            assert page.locator("#logout-form button").is_visible(), label
    # What the walk saw: an admin's menu folds upright, not on the landscape tablet; a
    # guard's four entries are never folded.
    page.set_viewport_size(PORTRAIT)
    page.goto("/console/history", wait_until="domcontentloaded")
    assert header_lines(page)[2] is (role == "admin")
    page.set_viewport_size(LANDSCAPE)  # turned: measured again
    page.wait_for_function("() => !document.querySelector('header.topbar')"
                           ".classList.contains('nav-folded')")
    assert header_lines(page)[1:] == (1, False)


# The rows' buttons on 访客通行证, each as a thumb must find it: whole on the screen, one line.
PASS_BUTTONS = ('#pass-rows a.btn[href$="/qr"]', "#pass-rows summary.btn",
                "#pass-rows button.btn.deny")


def test_on_a_tablet_the_pass_table_the_alarm_history_and_the_audit_log_do_not_scroll_sideways(
    live_server: LiveServer, new_page: Any
) -> None:
    """访客通行证's thirteen columns scrolled 260 px sideways inside the card at 768 px (二维码,
    编辑/延长 and 删除 out of sight) and squeezed 二/维/码 a character a line at 1024 px, and
    二维/码, 编辑/延长 onto two lines at 1280; 报警记录's nine columns scrolled 195 px at 768
    (处理情况 and the passage out of sight); 操作日志's eight 64 px at 768 (详情 out of sight,
    原因 a character a line, a pass's entry 600 px tall). On a tablet each row is a card of
    label: value cells in columns with its buttons after them; on the PC the buttons keep
    their words."""
    an_alarm_for(live_server, a_community(live_server))
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    for viewport in TABLETS:
        page.set_viewport_size(viewport)
        for path in ("/console/admin/passes", "/console/alarms", "/console/admin/audit"):
            page.goto(path, wait_until="domcontentloaded")
            label = f"{viewport['width']} {path}"
            wider = page.evaluate("() => Array.from(document.querySelectorAll('.table-scroll'))"
                                  ".map(box => box.scrollWidth - box.clientWidth)")
            assert wider == [0], (label, wider)
            assert sideways(page) == 0, label
        screenshot(page, f"81-tablet-audit-{viewport['width']}")
        # A pass's entry's 详情 is whole on the screen; on a tablet (a card, not a column)
        # on lines as wide as the card's.
        details = page.locator("#audit-rows tr", has_text="登记访客通行证").locator("td.details")
        box = details.bounding_box()
        assert box is not None and box["x"] + box["width"] <= viewport["width"], box
        if viewport is not SMALL_PC:
            assert box["width"] >= viewport["width"] / 2, (viewport["width"], box)
        page.goto("/console/alarms", wait_until="domcontentloaded")
        screenshot(page, f"81-tablet-alarms-{viewport['width']}")
        page.goto("/console/admin/passes", wait_until="domcontentloaded")
        screenshot(page, f"81-tablet-passes-{viewport['width']}")
        for selector in PASS_BUTTONS:
            button = page.locator(selector).first
            button.scroll_into_view_if_needed()
            box = button.bounding_box()
            label = f"{viewport['width']} {selector} {box}"
            assert box is not None and box["height"] >= 44, label
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], label
            assert button.evaluate(ONE_LINE), label
            assert hit_at_centre(page, button), label
        # 有效, the pass's status, is one word too.
        assert page.locator("#pass-rows .pass-status").first.evaluate(ONE_LINE)


# Links in running text that no class named, each on a page that shows it.
TEXT_LINKS = {
    "/console/admin/users": "td.last-login a",
    "/console/admin/reports": 'a[href^="/console/admin/audit?since="]',
    "/console/admin/reports/month": "#month-days tbody a",
}


def test_on_a_touch_tablet_every_text_link_and_weekday_has_a_thumb_sized_tap_area(
    live_server: LiveServer, chromium: Any
) -> None:
    """The tap areas were given to links named one by one (the account's name, an alarm's #id
    and 抓拍, ← 返回): a user's last login, 查看当天操作日志 and a month's days were still
    23 px tall, and a weekday to tick for a pass 34 px wide. On a touch tablet a tap within
    40x40 px around each reaches it; with a mouse the links keep their words' box."""
    a_community(live_server)
    areas: dict[bool, dict[str, list[int]]] = {}
    for touch in (False, True):
        context = browser_context(chromium, live_server.base_url, has_touch=touch)
        try:
            page = context.new_page()
            page.set_viewport_size(PORTRAIT)
            login(page, "admin")  # a last login for the users page to link to
            areas[touch] = {}
            for path, selector in TEXT_LINKS.items():
                page.goto(path, wait_until="domcontentloaded")
                link = page.locator(selector).first
                link.evaluate("el => window.scrollTo(0, window.scrollY"
                              " + el.getBoundingClientRect().top - innerHeight / 2)")
                areas[touch][path] = link.evaluate(TAP_AREA)
            page.goto("/console/admin/passes", wait_until="domcontentloaded")
            days = page.locator("#pass-form .pass-weekdays label").all()
            assert len(days) == 7
            for day in days:
                day.evaluate("el => window.scrollTo(0, window.scrollY"
                             " + el.getBoundingClientRect().top - innerHeight / 2)")
                areas[touch][day.inner_text().strip()] = day.evaluate(TAP_AREA)
                assert hit_at_centre(page, day)
            if touch:
                screenshot(page, "82-touch-tablet-passes")
        finally:
            context.close()
    for path in TEXT_LINKS:
        assert areas[False][path][1] < 40, (path, areas[False][path])  # the words' own box
    small = {name: area for name, area in areas[True].items() if min(area) < 40}
    assert small == {}


def the_widest_passages(server: LiveServer) -> None:
    """busy_evening's rows (a guard's long reason, a look-alike read, a pass, flags, a failed
    open's 人工开闸放行) and the three that widen the plate cell: a guard's correction
    (read → typed, two eight-character plates) and the yellow 挂车 and 双层黄牌 labels."""
    from models.db import transaction
    from models.events import Passage

    busy_evening(server)
    common = {"gate_id": "main-in", "direction": "in", "confidence": 0.97}
    with transaction(server.services.sessions) as session:
        session.add_all([
            Passage(plate="粤BD12345", decision="review", reason="unknown_plate",
                    resolution="allowed_once", resolved_plate="粤BD12346", resolved_by="guard",
                    **common),
            Passage(plate="冀A1234挂", plate_kind="trailer", decision="review",
                    reason="unknown_plate", **common),
            Passage(plate="冀A12345", plate_kind="double_row", decision="allow",
                    reason="visitor_pass", pass_id=12, household_id=1, **common),
        ])


# Each .table-scroll on the page: how far its table reaches past it, and its 左右滑动 hint shown.
INNER_SCROLL = """() => Array.from(document.querySelectorAll('.table-scroll')).map(box => [
  box.scrollWidth - box.clientWidth,
  Array.from(box.parentElement.querySelectorAll('.scroll-hint'))
    .some(hint => hint.getClientRects().length > 0)])"""
# Each plate-kind label: [its plate's text, the label inside its plate's cell, on one line].
KIND_LABELS = """() => Array.from(document.querySelectorAll('td.plate .plate-kind')).map(label => {
  const cell = label.closest('td').getBoundingClientRect(), box = label.getBoundingClientRect();
  const range = document.createRange(); range.selectNodeContents(label);
  const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top))).size;
  return [label.closest('td').firstChild.textContent.trim(),
          box.left >= cell.left && box.right <= cell.right && lines === 1]; })"""


@pytest.mark.parametrize("viewport", [PORTRAIT, SMALL_PC], ids=["768", "1280"])
def test_the_passages_tables_fit_a_tablet_and_a_booth_pc_without_sideways_scroll(
    live_server: LiveServer, new_page: Any, viewport: dict[str, int]
) -> None:
    """At 768x1024 the booth's live passages scrolled 8 px sideways inside their card and 通行记录
    15 px (with the demo's rows; 81 and 73 px with the widest rows below), both under the
    左右滑动 hint; the booth's 35 px at 1280x800 too. The photo shrinks, 住户/通行证 breaks at
    its spaces, a correction's second plate is a little smaller and a tablet's cells are
    tighter: no sideways scroll, every plate on one line, 挂车/双层黄牌 whole under theirs."""
    the_widest_passages(live_server)
    page = guard_page(new_page, live_server, viewport)
    for path in ("/console", "/console/history"):
        page.goto(path, wait_until="domcontentloaded")
        page.locator("td.plate", has_text="冀A1234挂").wait_for()
        label = f"{viewport['width']} {path}"
        screenshot(page, f"83-tablet-passages-{viewport['width']}-{path.split('/')[-1]}")
        assert page.evaluate(INNER_SCROLL) == [[0, False]], label
        assert sideways(page) == 0, label
        assert sorted(page.evaluate(KIND_LABELS)) == [["冀A12345", True], ["冀A1234挂", True]]
        laid = page.evaluate(PLATE_LINES)
        assert "→ 粤BD12346" in [text for text, _ in laid], label
        assert [(text, lines) for text, lines in laid if lines > 1] == [], label
    # English names the kinds in words ("Double-row yellow plate", kept on one line, made the
    # plate's cell the widest: 130-137 px sideways at 768): they break at their spaces.
    page.click("#lang-switch")
    page.wait_for_selector('html[lang="en"]')
    for path in ("/console", "/console/history"):
        page.goto(path, wait_until="domcontentloaded")
        page.locator("td.plate", has_text="冀A1234挂").wait_for()
        label = f"en {viewport['width']} {path}"
        screenshot(page, f"83-tablet-passages-en-{viewport['width']}-{path.split('/')[-1]}")
        assert page.evaluate(INNER_SCROLL) == [[0, False]], label
        assert sideways(page) == 0, label
        kinds = ("Double-row yellow plate", "Trailer")
        laid = page.evaluate(PLATE_LINES)
        assert [(text, lines) for text, lines in laid if lines > 1 and text not in kinds] == []


def test_in_english_the_month_report_fits_an_upright_tablet(
    live_server: LiveServer, new_page: Any
) -> None:
    """The month's nine columns fit a 768 px tablet in Chinese; in English its last header,
    "Fullest zone (peak/spaces)", had a word as wide as the column's figures and the table
    scrolled 21 px sideways under 左右滑动 (Swipe sideways for more)."""
    a_community(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.click("#lang-switch")
    page.wait_for_selector('html[lang="en"]')
    page.set_viewport_size(PORTRAIT)
    page.goto("/console/admin/reports/month", wait_until="domcontentloaded")
    page.locator("#month-days tbody tr").first.wait_for()
    screenshot(page, "85-tablet-month-en-768")
    assert page.evaluate(INNER_SCROLL) == [[0, False]]
    assert sideways(page) == 0


def test_a_review_card_shows_its_reasons_and_tidy_buttons_on_a_tablet_and_a_booth_pc(
    live_server: LiveServer, new_page: Any
) -> None:
    """At 1280x800 the queue's column is ~400 px: plate, reason and note side by side left
    the reason select 123 px, which showed 请选择… and cut 访客无通行证，业主确认, and 车已离开
    fell to a row of its own under the other three. Now the reason shares a row with the plate
    only and shows its longest choice whole; the four buttons are one row or two rows of two."""
    push_unread(live_server)
    page = guard_page(new_page, live_server, PORTRAIT)
    for viewport in TABLETS:
        page.set_viewport_size(viewport)
        card = page.locator(".review-card").first
        card.scroll_into_view_if_needed()
        label = f"{viewport['width']}"
        screenshot(page, f"84-tablet-review-{viewport['width']}")
        room, text = card.locator('select[name="preset"]').evaluate(REASON_ROOM)
        assert room >= text > 150, (label, room, text)
        assert_tidy_buttons(card, label)
    # English words are longer: at 1366 px "Car has left" was alone on a second row.
    page.click("#lang-switch")
    page.wait_for_selector('html[lang="en"] .review-card')
    for viewport in (SMALL_PC, {"width": 1366, "height": 768}):
        page.set_viewport_size(viewport)
        card = page.locator(".review-card").first
        card.scroll_into_view_if_needed()
        assert_tidy_buttons(card, f"en {viewport['width']}")


def assert_tidy_buttons(card: Any, label: str) -> None:
    """The card's four buttons inside it, one row of four or two rows of two equal ones."""
    boxes = [button.bounding_box() for button in card.locator(".buttons .btn").all()]
    edge = card.bounding_box()
    assert edge is not None and len(boxes) == 4 and None not in boxes, label
    rows: dict[int, list[float]] = {}
    for box in boxes:
        assert box["x"] >= edge["x"] and box["x"] + box["width"] <= edge["x"] + edge["width"]
        rows.setdefault(round(box["y"]), []).append(box["width"])
    assert sorted(len(row) for row in rows.values()) in ([4], [2, 2]), (label, rows)
    if len(rows) == 2:  # two by two: a grid of equal buttons
        assert max(map(max, rows.values())) - min(map(min, rows.values())) < 1, (label, rows)
