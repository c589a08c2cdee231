"""Every console page a guard or an admin reaches, on the small screens it is read on besides
the booth's 1366 px: a phone (390x844, a property manager reading the admin pages, a guard at
the gate; 360x780, the smallest common Android width) and a tablet (768x1024, a guard walking
the car park), in Debian chromium, with a fixed viewport and no mobile emulation (which widens
the window to fit what overflows); a touch screen where taps are what is checked. What each
test checks was found wrong in a small-screen walk of the demo, logged in as each role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, browser_context, enter_as, screenshot
from tests.browser.test_console_admin_browser import admin_api
from tests.browser.test_console_booth_fit_browser import hit_at_centre
from tests.browser.test_console_live_browser import push_unread

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
# The smallest common Android width.
SMALL_PHONE = {"width": 360, "height": 780}
TABLET = {"width": 768, "height": 1024}
DESKTOP = {"width": 1366, "height": 768}

GUARD_PAGES = ("/console", "/console/history", "/console/alarms", "/console/password",
               "/console/admin/passes", "/console/admin/passes/1/qr", "/console/presence")
ADMIN_PAGES = (
    *GUARD_PAGES,
    "/console/admin/users", "/console/admin/households", "/console/admin/households/import",
    "/console/admin/faces", "/console/admin/lists", "/console/admin/audit",
    "/console/admin/reports", "/console/admin/reports/month", "/console/admin/site",
)
# The admin pages whose table rows carry buttons, and the audit log: on a phone a card a row.
ROW_TABLES = ("/console/admin/users", "/console/admin/households", "/console/admin/lists",
              "/console/admin/audit")


def a_community(server: LiveServer) -> int:
    """A household with a resident and her car, a visitor pass (id 1, for its QR page), a
    blocked plate, and the audit entries these leave; and an unread new-energy plate (eight
    characters, the longest) waiting for the guard: its passage's id is returned."""
    from models.db import transaction
    from models.events import Passage

    start = datetime.now(UTC)
    with admin_api(server) as api:
        home = api.post("/api/v1/households", json={"building": "12栋", "unit": "2301"})
        assert home.status_code == 201, home.text
        household = home.json()["id"]
        for path, body in (
            ("/api/v1/residents", {"household_id": household, "name": "王芳",
                                   "phone": "13800001234"}),
            ("/api/v1/vehicles", {"household_id": household, "plate": "粤BD12345"}),
            ("/api/v1/passes", {"plate": "粤B88888", "host_household_id": household,
                                "valid_from": start.isoformat(),
                                "valid_to": (start + timedelta(hours=4)).isoformat()}),
            ("/api/v1/lists", {"plate": "沪K60613", "kind": "block", "reason": "欠费未缴"}),
        ):
            answer = api.post(path, json=body)
            assert answer.status_code == 201, answer.text
    # With the camera's photo: its thumbnail takes a third of a phone's card.
    unread = push_unread(server)
    with transaction(server.services.sessions) as session:
        passage = session.get(Passage, unread)
        assert passage is not None
        passage.plate, passage.confidence = "粤BD12346", 0.97
    return unread


def sideways(page: Any) -> int:
    """How far the whole page scrolls sideways, in CSS pixels."""
    return int(page.evaluate("document.scrollingElement.scrollWidth - innerWidth"))


def test_no_page_scrolls_sideways_on_a_phone_or_a_tablet(
    live_server: LiveServer, new_page: Any
) -> None:
    """The import page's file box was wider than its card at 390 px: the whole page scrolled
    22 px sideways. Each page as an admin at 360 (the smallest common Android width), 390
    and 768 px, the guard's at 360 and 390 px."""
    a_community(live_server)
    wide: dict[str, int] = {}
    for role, pages, viewports in (("admin", ADMIN_PAGES, (SMALL_PHONE, PHONE, TABLET)),
                                   ("guard", GUARD_PAGES, (SMALL_PHONE, PHONE))):
        page = new_page()
        enter_as(page, live_server, role, role)
        for viewport in viewports:
            page.set_viewport_size(viewport)
            for path in pages:
                # The width does not wait for the report's chart (its size is in the markup).
                page.goto(path, wait_until="domcontentloaded")
                if (over := sideways(page)) > 0:
                    wide[f"{role} {viewport['width']} {path}"] = over
    assert wide == {}


def test_on_a_phone_each_rows_buttons_are_on_the_screen_and_no_column_is_squeezed(
    live_server: LiveServer, new_page: Any
) -> None:
    """Each row is a card of whole lines: every cell at least half the table wide (the audit
    log's 详情 was one character wide, a row 500 px tall), and each button of a row (删除, 编辑,
    停用, 重设密码, 导出个人信息) lies whole on the screen without scrolling the table sideways,
    its label on one line, at least 40 px for a thumb, and a tap at its centre reaches it."""
    a_community(live_server)
    page = new_page()
    page.set_viewport_size(PHONE)
    enter_as(page, live_server, "admin", "admin")
    tables = "main table.grid"
    for path in ROW_TABLES:
        page.goto(path, wait_until="domcontentloaded")
        screenshot(page, "70-phone-" + path.rsplit("/", 1)[-1])
        rows = page.locator(f":is({tables}) > tbody > tr")
        assert rows.count() > 0, path
        squeezed = page.evaluate(
            """s => Array.from(document.querySelectorAll(s)).flatMap(table =>
                 Array.from(table.querySelectorAll(':scope > tbody > tr > td'))
                   .filter(td => td.textContent.trim() && td.getClientRects().length)
                   .filter(td => td.getBoundingClientRect().width < table.clientWidth / 2)
                   .map(td => td.textContent.trim().slice(0, 20)))""",
            tables,
        )
        assert squeezed == [], path
        # A label with nothing after it (an audit entry at no gate) is no line of its own.
        assert page.evaluate(EMPTY_LINES, tables) == 0, path
        assert page.evaluate(TOUCHING, tables) == [], path
        # Those shown: a closed panel's 保存 is not.
        buttons = [b for b in page.locator(f":is({tables}) > tbody > tr > td .btn").all()
                   if b.is_visible()]
        assert buttons or path.endswith("/audit"), path
        for button in buttons:
            # Scrolled down to, never sideways: a button right of the screen stays there.
            button.evaluate("el => window.scrollTo(0, window.scrollY"
                            " + el.getBoundingClientRect().top - innerHeight / 2)")
            box = button.bounding_box()
            assert box is not None
            label = f"{path} {button.inner_text()!r} at {box}"
            assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], label
            assert box["height"] >= 40 and box["width"] >= 40, label
            assert button.evaluate(ONE_LINE), label
            assert hit_at_centre(page, button), label


EMPTY_LINES = """s => Array.from(document.querySelectorAll(s + ' td[data-label]'))
  .filter(td => td.getClientRects().length && !td.textContent.trim()).length"""
# Buttons of one row less than 4 px apart (删除 stacked flush on 编辑 invited the wrong tap).
TOUCHING = """s => Array.from(document.querySelectorAll(s + ' td')).flatMap(td => {
  const boxes = Array.from(td.querySelectorAll('.btn')).filter(b => b.getClientRects().length)
    .map(b => [b.textContent.trim(), b.getBoundingClientRect()]);
  return boxes.slice(1).filter(([, r], i) => {
    const q = boxes[i][1];
    return Math.max(r.left - q.right, q.left - r.right, r.top - q.bottom, q.top - r.bottom) < 4;
  }).map(([text]) => text);
})"""
# The element's text is laid on one line (a squeezed 删除 read 删 / 除).
ONE_LINE = """el => { const range = document.createRange(); range.selectNodeContents(el);
  const rects = Array.from(range.getClientRects()).filter(r => r.width > 0);
  return new Set(rects.map(r => Math.round(r.top))).size === 1; }"""


# The review card's reason select: [its text room, the longest choice's text width].
REASON_ROOM = """select => {
  const style = getComputedStyle(select), probe = document.createElement('span');
  probe.style.font = style.font; probe.style.whiteSpace = 'pre';
  probe.textContent = Array.from(select.options).map(o => o.text)
    .reduce((a, b) => (a.length >= b.length ? a : b));
  document.body.append(probe);
  const text = probe.getBoundingClientRect().width; probe.remove();
  // the arrow takes about 1em of the select's content box
  return [select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)
          - parseFloat(style.fontSize), text]; }"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_on_a_phone_a_review_card_holds_its_read_and_its_buttons(
    live_server: LiveServer, new_page: Any, lang: str
) -> None:
    """粤BD12346 and its 97 % side by side ran 13 px out of a 390 px card (past the gate strip's
    edge): the confidence now goes under the plate there. The reason select shows its longest
    choice whole. The card's four buttons and the gates' buttons are whole on the screen, big
    enough for a thumb. At 390 and 360 px, in Chinese and in English (walked by hand only
    before: "Visitor without pass, host confirmed" was cut to "…host confirm" at 390, at 360
    to "…host con")."""
    a_community(live_server)
    page = new_page()
    page.context.add_cookies([{"name": "parkgate_lang", "value": lang,
                               "url": live_server.base_url}])
    page.set_viewport_size(PHONE)
    enter_as(page, live_server, "guard", "guard")
    card = page.locator(".review-card").first
    card.wait_for()
    for viewport in (PHONE, SMALL_PHONE):
        page.set_viewport_size(viewport)
        screenshot(page, f"71-phone-review-card-{lang}-{viewport['width']}")
        read = card.locator(".review-read")
        assert "粤BD12346" in read.inner_text() and "97%" in read.inner_text()
        inside = read.evaluate("""el => {
          const card = el.closest('.review-card').getBoundingClientRect();
          return Array.from(el.querySelectorAll('*')).every(child => {
            const r = child.getBoundingClientRect();
            return r.left >= card.left && r.right <= card.right; }); }""")
        assert inside, viewport
        # The reason's longest choice is whole in its select (the list beside the note had
        # room for 访客无通行证，业 of it).
        room, text = card.locator('select[name="preset"]').evaluate(REASON_ROOM)
        assert room >= text > 150, (viewport, room, text)
        for button in (*card.locator(".buttons .btn").all(),
                       *page.locator('.gate[data-gate="main-in"] .gate-buttons .btn').all()):
            button.scroll_into_view_if_needed()
            box = button.bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
            assert box["height"] >= 44, box
            assert hit_at_centre(page, button), button.inner_text()


def test_on_a_phone_the_menu_folds_behind_one_button(
    live_server: LiveServer, new_page: Any
) -> None:
    """The admin menu wrapped to four lines (~255 px with the account's buttons) at the top of
    every page on a 360-390 px phone. It folds behind a 菜单 button there: a keyboard opens it
    (the first Tab after the button reaches the first entry), Esc folds it with the focus back
    on the button, a screen reader hears whether it is open. On a desktop nothing changes."""
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    toggle = page.get_by_role("button", name="菜单")
    entries = page.locator(".nav a")
    for viewport in (SMALL_PHONE, PHONE):
        page.set_viewport_size(viewport)
        page.goto("/console/history")
        screenshot(page, f"72-phone-menu-folded-{viewport['width']}")
        header = page.locator("header.topbar").bounding_box()
        assert header is not None and header["height"] <= 70, header
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not any(entry.is_visible() for entry in entries.all())
        assert page.locator("#logout-form").is_hidden()

        toggle.focus()
        page.keyboard.press("Enter")
        assert toggle.get_attribute("aria-expanded") == "true"
        screenshot(page, f"72-phone-menu-open-{viewport['width']}")
        assert entries.count() == 12  # 场内车辆 too
        for entry in [*entries.all(), page.locator("#logout-form button")]:
            box = entry.bounding_box()
            assert box is not None, entry.inner_text()
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
            assert box["height"] >= 44 and box["width"] >= 44, (entry.inner_text(), box)
            assert entry.evaluate(ONE_LINE), entry.inner_text()
        assert page.locator(".nav a.active").inner_text() == "通行记录"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "实时监控"
        page.keyboard.press("Escape")
        assert toggle.get_attribute("aria-expanded") == "false"
        assert page.evaluate("document.activeElement.id") == "nav-toggle"
        assert not any(entry.is_visible() for entry in entries.all())
        assert sideways(page) == 0

    page.set_viewport_size(DESKTOP)
    # common.js lays the menu out again on the window's resize event, which the browser
    # dispatches before it paints, but after Playwright's resize returns.
    expect(toggle).to_be_hidden()
    assert all(entry.is_visible() for entry in entries.all())
    assert page.locator("#logout-form").is_visible()


def an_alarm_for(server: LiveServer, passage: int) -> None:
    """An open 跟车 alarm on ``passage`` (its 抓拍 and #id links) and last night's handled
    barrier fault at no passage."""
    from models.base import utcnow
    from models.db import transaction
    from models.events import Alarm

    night = utcnow() - timedelta(hours=6)
    with transaction(server.services.sessions) as session:
        session.add_all([
            Alarm(at=utcnow(), kind="tailgating", gate_id="main-in",
                  message="tailgating at main-in", passage_id=passage),
            Alarm(at=night, kind="hardware_fault", gate_id="main-out",
                  message="barrier fault at main-out", acknowledged_by="guard2",
                  acknowledged_at=night + timedelta(minutes=4), acknowledged_note="已报修"),
        ])


# The tables that stay tables on a phone, scrolling inside their card: each row's day (or
# clock) is needed beside its figures. What is right of the screen must be announced.
SCROLLING_TABLES = ("/console/history", "/console/admin/reports/month", "/console")
# [scrolls, hint shown above the box, box focusable] for each .table-scroll of the page.
SCROLL_CUES = """() => Array.from(document.querySelectorAll('.table-scroll')).map(box => {
  const hint = box.previousElementSibling;
  return [box.scrollWidth > box.clientWidth, !!hint && hint.matches('.scroll-hint')
          && hint.getClientRects().length > 0 && hint.textContent.includes('左右滑动'),
          box.tabIndex === 0]; })"""


def test_on_a_phone_a_table_wider_than_its_card_says_so(
    live_server: LiveServer, new_page: Any
) -> None:
    """The passages (通行记录, the booth's) and the month's days scrolled sideways inside their
    card with no sign of it: 车牌, 结果 and 原因 lay out of sight. A line over the table says
    左右滑动查看更多 while it is wider than its card (and the card takes the keyboard's
    focus for the arrow keys), a glow marks the side with more; on a desktop, where they fit,
    no line. The month's day stays in view at the left while its figures slide under it."""
    a_community(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    for viewport in (SMALL_PHONE, PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        for path in SCROLLING_TABLES:
            page.goto(path)
            page.locator(".table-scroll tbody tr").first.wait_for()
            cues = page.evaluate(SCROLL_CUES)
            label = f"{viewport['width']} {path}"
            if viewport is DESKTOP:
                assert cues == [[False, False, False]], label
            else:
                assert cues == [[True, True, True]], label
                glow = page.locator(".table-scroll").evaluate(
                    "el => getComputedStyle(el).backgroundAttachment")
                assert "local" in glow and "scroll" in glow, glow
    page.set_viewport_size(SMALL_PHONE)
    page.goto("/console/admin/reports/month")
    screenshot(page, "73-phone-month")
    day = page.locator("#month-days tbody tr td").first
    # Scrolled down to the table, then the table to its right end (never sideways by Playwright).
    left = page.locator("#month-days").evaluate(
        """t => { const box = t.parentElement;
             window.scrollTo(0, window.scrollY + box.getBoundingClientRect().top - 100);
             box.scrollLeft = box.scrollWidth; return box.getBoundingClientRect().left; }""")
    page.wait_for_timeout(100)
    screenshot(page, "73-phone-month-scrolled")
    assert page.locator(".table-scroll").evaluate("b => b.scrollLeft") > 0
    assert abs(day.bounding_box()["x"] - left) <= 1
    assert hit_at_centre(page, day.locator("a"))
    # 车辆入场 on one line, not a character a line.
    assert page.locator("#month-days th", has_text="车辆入场").evaluate(ONE_LINE)


def test_on_a_phone_the_alarm_history_is_a_card_an_alarm(
    live_server: LiveServer, new_page: Any
) -> None:
    """报警记录's nine columns scrolled inside the card with 状态, 处理人 and the passage (#id ·
    抓拍) out of sight. On a phone each alarm is a card of lines, all on the screen; a "—"
    (not handled yet, no passage) is no line of its own."""
    an_alarm_for(live_server, a_community(live_server))
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    for viewport in (SMALL_PHONE, PHONE):
        page.set_viewport_size(viewport)
        page.goto("/console/alarms")
        screenshot(page, f"74-phone-alarms-{viewport['width']}")
        assert page.evaluate(SCROLL_CUES) == [[False, False, False]]
        cells = page.locator("#alarm-history-rows td").all()
        shown = [cell for cell in cells if cell.is_visible()]
        for cell in shown:
            box = cell.bounding_box()
            assert box is not None
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], box
        # Each line as read: its label (drawn by the stylesheet) and its value.
        lines = [cell.evaluate("td => getComputedStyle(td, '::before').content.slice(1, -1)"
                               " + td.innerText") for cell in shown]
        assert not any(line.endswith("—") for line in lines), lines
        assert "状态：未处理" in lines and "处理人：guard2" in lines, lines
        for link in (".alarm-passage", ".alarm-snapshot"):
            assert page.locator(link).is_visible(), link


# The small secondary links, each on a page that shows it: an alarm's #id and 抓拍 (报警记录,
# the booth's alarm strip), ← 返回 (a pass's QR page, the import page), the account's name
# (修改密码, in the opened menu on a phone).
SMALL_LINKS = {
    "/console/alarms": (".alarm-passage", ".alarm-snapshot"),
    "/console": ("#alarm-list .alarm-snapshot",),
    "/console/admin/passes/1/qr": (".back-link",),
    "/console/admin/households/import": (".back-link",),
    "/console/history": ("#password-link",),
    # 显示全部 after one passage's row; 到最后一页 after a page past the last (it broke across
    # two lines on a phone, 到最后 / 一页, and a tap at its middle fell between them).
    "/console/history?passage=1": ("#history-one a",),
    "/console/history?page=50": ("#page-last",),
}
# What a tap reaches around the element's centre: [width, height] of the cross of points
# at which the element (or its tap area) is what elementFromPoint finds.
TAP_AREA = """el => { const r = el.getBoundingClientRect();
  const x = r.left + r.width / 2, y = r.top + r.height / 2;
  const hits = (dx, dy) => el.contains(document.elementFromPoint(x + dx, y + dy));
  const reach = (sx, sy) => { let n = 0; while (n < 80 && hits(sx * (n + 1), sy * (n + 1))) n++;
                              return n; };
  return [reach(-1, 0) + reach(1, 0) + 1, reach(0, -1) + reach(0, 1) + 1]; }"""
NEIGHBOURS = {"/console/alarms": (".alarm-passage", ".alarm-snapshot"),
              "/console/history": ("#lang-switch", "#password-link", "#logout-form button")}


def test_on_a_touch_screen_small_links_have_a_thumb_sized_tap_area(
    live_server: LiveServer, chromium: Any
) -> None:
    """An alarm's #id and 抓拍 links, ← 返回, the account's name, 显示全部 and 到最后一页 were
    20-30 px tall: hard to hit with a thumb. On a touch screen (phone and tablet) a tap within
    40x40 px around each reaches it, and its neighbours still get their own taps; nothing
    moves (each link's box is where it is for a mouse, which keeps the words' own box)."""
    an_alarm_for(live_server, a_community(live_server))
    pages: dict[bool, Any] = {}
    for touch in (False, True):
        context = browser_context(chromium, live_server.base_url, has_touch=touch)
        pages[touch] = context.new_page()
        enter_as(pages[touch], live_server, "admin", "admin")
    try:
        for viewport in (PHONE, TABLET):
            for path, links in SMALL_LINKS.items():
                # [box, tap area] of each link, with a mouse and on a touch screen
                seen: dict[bool, list[tuple[Any, list[int]]]] = {}
                for touch, page in pages.items():
                    page.set_viewport_size(viewport)
                    page.goto(path)
                    if path == "/console":  # its alarm strip is drawn again once it is live
                        page.wait_for_selector('#live-dot[data-live="yes"]')
                        page.wait_for_timeout(500)
                    if page.locator("#nav-toggle").is_visible():  # 修改密码 is in the menu
                        page.locator("#nav-toggle").click()
                    seen[touch] = []
                    for link in links:
                        element = page.locator(link).first
                        element.scroll_into_view_if_needed()  # the booth's alarm list scrolls
                        element.evaluate("el => window.scrollTo(0, window.scrollY"
                                         " + el.getBoundingClientRect().top - innerHeight / 2)")
                        seen[touch].append((element.bounding_box(), element.evaluate(TAP_AREA)))
                        for neighbour in NEIGHBOURS.get(path, ()):
                            assert hit_at_centre(page, page.locator(neighbour).first), neighbour
                for link, (box, area), (touch_box, touch_area) in zip(
                        links, seen[False], seen[True], strict=True):
                    label = f"{viewport['width']} {path} {link}"
                    assert box == touch_box, label
                    assert area[1] < 40, (label, area)  # the words' own box, for a mouse
                    assert min(touch_area) >= 40, (label, touch_area)
        screenshot(pages[True], "75-touch-tablet-history")
    finally:
        for page in pages.values():
            page.context.close()


def test_on_a_phone_a_booth_alarm_reads_as_lines_of_text(
    live_server: LiveServer, new_page: Any
) -> None:
    """The 跟车 alarm's hint is long and has no spaces: on a 390 px phone it was squeezed
    beside the alarm's name, time and 确认处理 into one character a line (a row 925 px
    tall). It takes a line of its own when the row has no room for it."""
    an_alarm_for(live_server, push_unread(live_server))
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    for viewport in (SMALL_PHONE, PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        page.goto("/console")
        message = page.locator('#alarm-list .alarm[data-kind="tailgating"] .alarm-msg')
        message.wait_for()
        # Read in the page in one go: the live page may redraw the list meanwhile.
        box = message.evaluate("el => { const r = el.getBoundingClientRect();"
                               " return {width: r.width, height: r.height}; }")
        label = f"{viewport['width']}: {box}"
        assert box["width"] >= 0.7 * viewport["width"] or box["height"] <= 60, label
        assert box["height"] <= 200, label


LANDSCAPE_PHONE = {"width": 844, "height": 390}
# Where a dialog's parts lie: each as [top, bottom] in the window, and whether the dialog has
# anything to scroll.
DIALOG_PARTS = """dialog => {
  const at = (el) => { const r = el.getBoundingClientRect(); return [r.top, r.bottom]; };
  return {scrolls: dialog.scrollHeight > dialog.clientHeight, scrolled: dialog.scrollTop,
          reasons: Array.from(dialog.querySelectorAll('input[name="preset"]')).map(at),
          reason_text: at(dialog.querySelector('input[name="reason_text"]')),
          confirm: at(dialog.querySelector('button[type="submit"]')),
          confirm_height: dialog.querySelector('button[type="submit"]').offsetHeight}; }"""


def on_screen(top_bottom: list[float], height: int) -> bool:
    top, bottom = top_bottom
    return top >= 0 and bottom <= height


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_on_a_phone_held_sideways_the_gate_dialogs_show_reason_and_confirm(
    live_server: LiveServer, new_page: Any, lang: str
) -> None:
    """A guard at the barrier holds the phone sideways (844x390): 开闸 (470 px tall) and
    录入车牌 (550 px) scrolled, their reason's text box and 确认 below the screen's edge. Both
    now lie whole on the screen, the reasons too, without scrolling the dialog; with the
    "reason required" line shown 确认 stays on the screen. Upright, 确认 is as big as before."""
    page = new_page()
    page.context.add_cookies([{"name": "parkgate_lang", "value": lang,
                               "url": live_server.base_url}])
    page.set_viewport_size(LANDSCAPE_PHONE)
    enter_as(page, live_server, "guard", "guard")
    height = LANDSCAPE_PHONE["height"]
    for opener, dialog_id in (('.gate[data-gate="main-in"] .gate-action.open', "#gate-dialog"),
                              ('.gate[data-gate="main-in"] .typed-plate', "#typed-dialog")):
        page.click(opener)
        dialog = page.locator(dialog_id)
        expect(dialog).to_be_visible()
        screenshot(page, f"72-phone-sideways-{dialog_id[1:]}-{lang}")
        parts = dialog.evaluate(DIALOG_PARTS)
        assert not parts["scrolls"], parts
        assert all(on_screen(r, height) for r in parts["reasons"]), parts
        assert on_screen(parts["reason_text"], height), parts
        assert on_screen(parts["confirm"], height), parts
        assert parts["confirm_height"] >= 44, parts  # still a thumb's size
        dialog.locator('button[type="submit"]').click()  # no reason: it says one is needed
        expect(dialog.locator(".error")).to_be_visible()
        parts = dialog.evaluate(DIALOG_PARTS)
        assert on_screen(parts["confirm"], height) and parts["scrolled"] == 0, parts
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
    page.set_viewport_size(PHONE)  # upright: as it was
    page.click('.gate[data-gate="main-in"] .gate-action.open')
    assert page.locator("#gate-confirm").evaluate("el => el.offsetHeight") == 64
