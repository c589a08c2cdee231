"""The console on a tablet and a small booth PC, in Debian chromium with a fixed viewport: a
guard's tablet in the booth held upright (768x1024), a landscape tablet (1024x768) and a small
booth PC (1280x800). What each test checks was found wrong in a walk of the demo at these
sizes, logged in as a guard and as an admin (screenshots looked at)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer, browser_context, enter_as, login, screenshot
from tests.browser.test_console_booth_fit_browser import hit_at_centre
from tests.browser.test_console_small_screen_browser import (
    ONE_LINE,
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


def test_on_a_tablet_the_pass_table_and_the_alarm_history_do_not_scroll_sideways(
    live_server: LiveServer, new_page: Any
) -> None:
    """访客通行证's thirteen columns scrolled 260 px sideways inside the card at 768 px (二维码,
    编辑/延长 and 删除 out of sight) and squeezed 二/维/码 a character a line at 1024 px, and
    二维/码, 编辑/延长 onto two lines at 1280; 报警记录's nine columns scrolled 195 px at 768
    (处理情况 and the passage out of sight). On a tablet each row is a card of label: value
    cells in columns with its buttons after them; on the PC the buttons keep their words."""
    an_alarm_for(live_server, a_community(live_server))
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    for viewport in TABLETS:
        page.set_viewport_size(viewport)
        for path in ("/console/admin/passes", "/console/alarms"):
            page.goto(path, wait_until="domcontentloaded")
            label = f"{viewport['width']} {path}"
            wider = page.evaluate("() => Array.from(document.querySelectorAll('.table-scroll'))"
                                  ".map(box => box.scrollWidth - box.clientWidth)")
            assert wider == [0], (label, wider)
            assert sideways(page) == 0, label
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
