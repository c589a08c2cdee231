"""The console against WCAG 2.1 AA, in Debian chromium: axe-core (the copy the
axe-playwright-python wheel ships, so nothing is fetched at run time) finds no serious or
critical violation on the pages a guard or an admin reaches, in Chinese and in English; and a
guard opens a gate with a reason and resolves a review card with the keyboard alone, seeing
where the focus is at every step.

One server and one browser context per role and language serve the whole module: axe takes
about a second a page, a server start about as much."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from controllers.events import Event
from tests.browser.conftest import (
    STREAM_TIMEOUT_MS,
    WAIT_MS,
    LiveServer,
    browser_context,
    enter_as,
    serving,
)
from tests.conftest import first_start_migrated

pytestmark = pytest.mark.browser

# axe-core itself, as the axe-playwright-python wheel ships it (requirements-dev.txt): its
# Python wrapper adds nothing the two evaluate() calls below do not say.
AXE_JS = (resources.files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")

# The rules of WCAG 2.0/2.1 A and AA, and axe's best practices (landmarks, headings) as well.
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}
BLOCKING = ("serious", "critical")
# Milder findings that were fixed and are to stay so: the booth page had no h1, and the
# columns of buttons (删除, 编辑) on eight admin tables an empty header.
KEPT_FIXED = ("page-has-heading-one", "empty-table-header")


@pytest.fixture(scope="module")
def a11y_server(
    plate_recognizer: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One live server for the module, on SQLite, with something on every page: a household
    with a resident and a car, a visitor pass, a listed plate, a car waiting for review, an
    alarm and a gate opened by hand (an audit row)."""
    from services.container import build_services
    from settings import load_settings
    from tests.api.test_console import add_staff

    directory = tmp_path_factory.mktemp("a11y")
    url = f"sqlite:///{directory / 'parkgate.db'}"
    settings = load_settings(
        None, data_dir=directory / "data", database_url=url,
        camera_api_keys={"cam-main": "test-camera-key"},
        storage={"reserve_mb": 0, "min_free_mb": 0},
    )
    first_start_migrated(settings, url, tmp_path_factory)
    services = build_services(settings, recognizer=plate_recognizer)
    add_staff(services, "admin", "admin")
    add_staff(services, "guard", "guard")
    with serving(services) as server:
        seed(server)
        yield server


def seed(server: LiveServer) -> None:
    from models.db import transaction
    from models.events import Alarm, Passage

    token = server.services.signer.issue("admin", "admin")
    with httpx.Client(base_url=server.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as api:
        household = api.post("/api/v1/households", json={"building": "3栋", "unit": "1201"})
        assert household.status_code == 201, household.text
        hid = household.json()["id"]
        resident = api.post("/api/v1/residents", json={"household_id": hid, "name": "王奶奶"})
        assert resident.status_code == 201, resident.text
        car = api.post("/api/v1/vehicles", json={"household_id": hid, "plate": "沪A12345"})
        assert car.status_code == 201, car.text
        now = datetime.now(UTC)
        visitor = api.post("/api/v1/passes", json={
            "plate": "沪B54321", "host_household_id": hid,
            "valid_from": now.isoformat(), "valid_to": (now + timedelta(hours=4)).isoformat(),
        })
        assert visitor.status_code == 201, visitor.text
        listed = api.post("/api/v1/lists",
                          json={"plate": "沪C11111", "kind": "block", "reason": "物业费欠费"})
        assert listed.status_code == 201, listed.text
        opened = api.post("/api/v1/gates/main-out/actions",
                          json={"action": "open", "reason": "救护车/消防/警车：120"})
        assert opened.status_code in (200, 202), opened.text
    with transaction(server.services.sessions) as session:
        session.add_all([
            Passage(gate_id="main-in", direction="in", plate="沪A12345", decision="allow",
                    reason="resident", confidence=0.97),
            Passage(gate_id="main-in", direction="in", plate="沪D77777", decision="review",
                    reason="unknown_plate", confidence=0.91),
            Alarm(kind="blocked_plate", gate_id="main-in",
                  message="blocked_plate at main-in: 沪C11111"),
        ])


# (path, who opens it, what shows once the page has drawn what it fetches). Every page in
# Chinese as the account that uses it; in English too the login and the guard's pages (longer
# words, another lang attribute): the admin pages share their templates and styles, and the
# whole list in both languages and as both roles (42 pages) took 45 s, found nothing more.
PAGES: list[tuple[str, str, str]] = [
    ("/console/login", "nobody", "#login-form"),
    ("/console", "guard", ".review-card"),
    ("/console/history", "guard", "main"),
    ("/console/alarms", "guard", "main"),
    ("/console/presence", "guard", "main"),
    ("/console/admin/passes", "guard", "main"),
    ("/console/password", "guard", "main"),
    ("/console/admin/households", "admin", "main"),
    ("/console/admin/households/import", "admin", "main"),
    ("/console/admin/users", "admin", "main"),
    ("/console/admin/faces", "admin", "main"),
    ("/console/admin/lists", "admin", "main"),
    ("/console/admin/audit", "admin", "main"),
    ("/console/admin/reports", "admin", "main"),
    ("/console/admin/reports/month", "admin", "main"),
    ("/console/admin/site", "admin", "main"),
]
CASES = [
    pytest.param(path, who, lang, ready, id=f"{who}-{lang}-{path.removeprefix('/console') or '/'}")
    for path, who, ready in PAGES
    for lang in (("zh", "en") if who != "admin" else ("zh",))
]


@pytest.fixture(scope="module")
def pages(chromium: Any, a11y_server: LiveServer) -> Iterator[Any]:
    """One page per (who, language), kept for the module: a fresh context per case would
    cost a login and a stream connection each."""
    opened: dict[tuple[str, str], Any] = {}
    contexts: list[Any] = []

    def page_for(who: str, lang: str) -> Any:
        if (who, lang) not in opened:
            context = browser_context(chromium, a11y_server.base_url)
            contexts.append(context)
            context.add_cookies([{"name": "parkgate_lang", "value": lang,
                                  "url": a11y_server.base_url}])
            page = context.new_page()
            if who != "nobody":
                enter_as(page, a11y_server, who, who)
            opened[who, lang] = page
        return opened[who, lang]

    yield page_for
    for context in contexts:
        context.close()


def blocking_violations(page: Any) -> list[dict[str, Any]]:
    """axe's serious and critical findings on what the page shows now (and KEPT_FIXED's)."""
    page.evaluate(AXE_JS)
    violations: list[dict[str, Any]] = page.evaluate(
        "options => axe.run(document, options).then(results => results.violations)", AXE_OPTIONS
    )
    return [v for v in violations if v["impact"] in BLOCKING or v["id"] in KEPT_FIXED]


# WCAG 1.4.11, which axe does not check: a text box's or a list's edge at 3:1 at least against
# what is around it, or an empty box on a card is not seen.
FAINT_FIELDS = """() => {
  const lum = (rgb) => { const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map((v) => {
      v = v / 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const opaque = (c) => c !== 'transparent' && !/rgba\\(.*, 0\\)$/.test(c);
  const behind = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
      const c = getComputedStyle(p).backgroundColor; if (opaque(c)) return c; }
    return 'rgb(255, 255, 255)'; };
  const faint = [];
  const boxes = 'input:not([type=hidden], [type=checkbox], [type=radio]), select';
  for (const el of document.querySelectorAll(boxes)) {
    if (!el.checkVisibility()) continue;
    const s = getComputedStyle(el), a = lum(s.borderTopColor), b = lum(behind(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 3) faint.push(`${el.name || el.id || el.type}: ${ratio.toFixed(2)}:1`);
  }
  return faint;
}"""


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['impact']} {v['id']}: {v['help']}")
        for node in v["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node['failureSummary']}")
    return "\n".join(lines)


@pytest.mark.parametrize(("path", "who", "lang", "ready"), CASES)
def test_page_has_no_serious_accessibility_violation(
    pages: Any, path: str, who: str, lang: str, ready: str
) -> None:
    page = pages(who, lang)
    page.goto(path)
    page.wait_for_selector(ready)
    if path == "/console":
        page.wait_for_selector('#live-dot[data-live="yes"]', timeout=STREAM_TIMEOUT_MS)
    found = blocking_violations(page)
    faint = page.evaluate(FAINT_FIELDS)
    if found or faint:
        pytest.fail(f"{path} as {who} ({lang}):\n{describe(found)}\n"
                    f"fields whose edge is under 3:1: {faint}", pytrace=False)



def add_review(server: LiveServer, plate: str) -> int:
    """A car waiting for the guard, as the gate camera leaves one (no photo)."""
    from models.db import transaction
    from models.events import Passage

    with transaction(server.services.sessions) as session:
        passage = Passage(gate_id="main-in", direction="in", plate=plate, decision="review",
                          reason="unknown_plate", confidence=0.93)
        session.add(passage)
        session.flush()
        passage_id = passage.id
    server.services.bus.publish(Event("passage", {"id": passage_id, "decision": "review"}))
    return passage_id


FOCUS = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  const card = el.closest('.review-card');
  return {tag: el.tagName, id: el.id, cls: el.className, name: el.getAttribute('name'),
          action: el.dataset.action || el.dataset.resolution || null, gate: el.dataset.gate || null,
          value: el.value ?? null, text: el.innerText.trim().slice(0, 40),
          card: card ? card.dataset.passage : null, dialog: el.closest('dialog[open]')?.id ?? null,
          row: el.closest('#passage-rows tr')?.dataset.id ?? null,
          ring: [style.outlineStyle, parseFloat(style.outlineWidth), style.outlineColor]};
}"""
RING = ["solid", 3.0, "rgb(255, 210, 77)"]  # console.css: the yellow ring every focus shows


def tab(page: Any, key: str = "Tab") -> dict[str, Any]:
    """Press ``key`` and say where the focus went; wherever Tab lands shows the ring."""
    page.keyboard.press(key)
    where: dict[str, Any] = page.evaluate(FOCUS)
    assert where["ring"] == RING, f"no visible focus ring on {where}"
    return where


# What the guard reads and types in the keyboard walk, by language: the skip link to the
# gates, the gate's reason and the card's note. The English walk was done by hand only.
WALK = {"zh": ("跳到道闸控制", "键盘开闸", "业主电话确认"),
        "en": ("Skip to gate controls", "opened by keyboard", "host phoned to confirm")}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_guard_opens_a_gate_and_resolves_a_review_with_the_keyboard_alone(
    pages: Any, a11y_server: LiveServer, lang: str
) -> None:
    """Tab, Enter, Space, arrows and typing only, as a guard without a mouse: 开闸 with a
    reason, then 放行一次 on the first card of the queue, every step showing where it is;
    in Chinese and in English (longer words, the same stops)."""
    skip_to_gates, gate_note, card_note = WALK[lang]
    page = pages("guard", lang)
    page.goto("/console")
    page.wait_for_selector('#live-dot[data-live="yes"]', timeout=STREAM_TIMEOUT_MS)
    add_review(a11y_server, "沪E24680")
    page.wait_for_selector(".review-card >> nth=1")

    # 跳到道闸控制, then the first gate's 开闸
    assert tab(page)["text"] == skip_to_gates
    page.keyboard.press("Enter")
    opener = tab(page)
    assert (opener["action"], opener["gate"]) == ("open", "main-in")
    page.keyboard.press("Enter")
    page.wait_for_selector("#gate-dialog[open]")
    first = page.evaluate(FOCUS)
    assert (first["dialog"], first["name"]) == ("gate-dialog", "preset"), first
    page.keyboard.press("ArrowDown")  # the second reason, chosen by moving onto it
    preset = page.evaluate(FOCUS)
    assert preset["name"] == "preset" and page.locator(
        "#gate-dialog input[name=preset]:checked").input_value() == preset["value"]
    assert tab(page)["name"] == "reason_text"
    page.keyboard.type(gate_note)
    audit_before = gate_audit_reasons(a11y_server, "main-in")  # the other language's walk
    page.keyboard.press("Enter")
    page.wait_for_selector("#gate-dialog", state="hidden")
    page.wait_for_selector('.gate[data-gate="main-in"] .gate-state.state-open')
    assert page.evaluate(FOCUS)["action"] == "open"  # back where the guard was
    audit = gate_audit_reasons(a11y_server, "main-in")
    assert audit == [*audit_before, f"{preset['value']}：{gate_note}"]

    # On through the gates to the queue's first card: its plate, reason and 放行一次
    for _ in range(30):
        where = tab(page)
        if where["card"]:
            break
    assert where["name"] == "plate", where
    passage_id = int(where["card"])
    assert tab(page)["name"] == "preset"
    page.keyboard.press("ArrowDown")
    reason = page.evaluate(FOCUS)["value"]
    assert reason
    assert tab(page)["name"] == "reason_text"
    page.keyboard.type(card_note)
    allow = tab(page)
    assert (allow["action"], allow["card"]) == ("allow_once", str(passage_id))
    page.keyboard.press("Enter")
    page.wait_for_selector(f'.review-card[data-passage="{passage_id}"]', state="detached")
    resolved = resolution(a11y_server, passage_id)
    assert resolved == ("allowed_once", "guard", [f"{reason}：{card_note}"])


def gate_audit_reasons(server: LiveServer, gate: str) -> list[str]:
    from sqlalchemy import select

    from models.events import AuditEntry

    with server.services.sessions() as session:
        return [str(r) for r in session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "gate.open")
            .where(AuditEntry.gate_id == gate)
        )]


def resolution(server: LiveServer, passage_id: int) -> tuple[Any, ...]:
    from sqlalchemy import select

    from models.events import AuditEntry, Passage

    with server.services.sessions() as session:
        row = session.get(Passage, passage_id)
        assert row is not None
        reasons = list(session.scalars(
            select(AuditEntry.reason).where(AuditEntry.action == "passage.resolve")
            .where(AuditEntry.passage_id == passage_id)
        ))
        return (row.resolution, row.resolved_by, reasons)


def test_a_lost_live_stream_is_said_in_words_not_only_in_red(
    pages: Any, a11y_server: LiveServer
) -> None:
    """The booth's only sign that the page stopped following the gates was its dot turning
    from green to red, alike to a red-green colour-blind guard: now words come with it, and
    the dot becomes a ring."""
    from tests.browser.test_console_reconnect_browser import KEEP_STREAMS, cut_the_stream

    page = pages("guard", "zh").context.new_page()  # the guard's session, streams kept
    try:
        page.add_init_script(KEEP_STREAMS)
        page.goto("/console")
        dot, lost = page.locator("#live-dot"), page.locator("#live-lost")
        expect(dot).to_have_attribute("data-live", "yes", timeout=STREAM_TIMEOUT_MS)
        expect(lost).to_be_hidden()
        filled = dot.evaluate("el => getComputedStyle(el).backgroundColor")

        cut_the_stream(page)
        expect(lost).to_be_visible()
        expect(lost).to_have_text("实时连接中断，正在重连…")
        ring = dot.evaluate("""el => { const s = getComputedStyle(el);
            return [s.backgroundColor, s.borderTopStyle, parseFloat(s.borderTopWidth)]; }""")
        assert ring == ["rgba(0, 0, 0, 0)", "solid", 3.0] and filled != ring[0]
    finally:
        page.close()


def test_a_review_cards_photo_opens_and_closes_from_the_keyboard(
    pages: Any, a11y_server: LiveServer
) -> None:
    """Before 放行 a guard looks at the car: the card's photo was enlarged by a click only."""
    from tests.browser.test_console_live_browser import push_unread

    page = pages("guard", "zh")
    page.goto("/console")
    page.wait_for_selector('#live-dot[data-live="yes"]', timeout=STREAM_TIMEOUT_MS)
    passage_id = push_unread(a11y_server)
    page.wait_for_selector(f'.review-card[data-passage="{passage_id}"] img.thumb')

    tab(page)
    assert tab(page)["text"] == "跳到待处理车辆"
    page.keyboard.press("Enter")
    for _ in range(40):
        where = tab(page)
        if where["card"] == str(passage_id):
            break
    assert where["cls"] == "thumb-button", where  # the card's first stop
    page.keyboard.press("Enter")
    lightbox = page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    expect(page.locator("#lightbox-img")).to_have_attribute("alt", f"抓拍 {passage_id}")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    assert page.evaluate(FOCUS)["cls"] == "thumb-button"  # back on the card


# (list page, who reads it, its line for no rows, a search that finds nothing)
LISTS = [
    ("/console/history", "guard", "#history-none", "plate=粤Z"),
    ("/console/alarms", "guard", "#alarm-history-none", "kind=tailgating"),
    ("/console/presence", "guard", "#inside-none", "plate=粤Z"),
    ("/console/admin/audit", "admin", "#audit-none", "user=nobody"),
]
PAST_THE_END = {"zh": "第 999 页没有记录：只有 1 页。 到最后一页",
                "en": "No entries on page 999: there is only 1 page. Go to the last page"}
NOTHING_MATCHES = {
    "zh": ("没有符合条件的通行记录", "没有符合条件的报警", "没有符合条件的在场车辆",
           "没有符合条件的操作记录"),
    "en": ("No passages match", "No alarms match", "No cars inside match", "No log entries match"),
}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_list_without_rows_says_why_in_a_line_not_under_an_empty_header(
    pages: Any, lang: str
) -> None:
    """通行记录 ?page=999 showed the table's header over nothing, then its line; the audit
    log had no line at all. A page past the last now shows only the line and 到最后一页, which
    leads to the rows; a search that finds nothing says so in the list's own words."""
    for (path, who, line, nothing), none in zip(LISTS, NOTHING_MATCHES[lang], strict=True):
        page = pages(who, lang)
        page.goto(f"{path}?{nothing}")
        expect(page.locator(line)).to_have_text(none)
        assert page.locator("main table").count() == 0, path
        if path == "/console/presence":
            continue  # no car is recorded inside here: no page past the last to go back from
        page.goto(f"{path}?page=999")
        expect(page.locator(line)).to_have_text(PAST_THE_END[lang])
        assert page.locator("main table").count() == 0, path
        page.locator(f"{line} #page-last").click()
        page.wait_for_url(f"**{path}?page=1")
        expect(page.locator("main table > tbody > tr").first).to_be_visible()


def test_a_passages_photo_opens_from_the_keyboard_through_one_tab_stop(
    pages: Any, a11y_server: LiveServer
) -> None:
    """The live passages' photos enlarged by a click only: as a button each, up to 200 tab
    stops. The table's photos are one stop: Tab reaches the newest row's photo, a line over the
    table says ↑ ↓ move to the car above or below, Enter enlarges, Escape closes back on that
    photo; the next Tab leaves the photos, and Shift+Tab comes back to the same one."""
    from tests.browser.test_console_live_browser import push_unread

    page = pages("guard", "zh")
    page.goto("/console")
    page.wait_for_selector('#live-dot[data-live="yes"]', timeout=STREAM_TIMEOUT_MS)
    pushed = [push_unread(a11y_server) for _ in range(3)]
    for passage_id in pushed:
        page.wait_for_selector(f'#passage-rows tr[data-id="{passage_id}"] .thumb-button')
    # In the table's order (rows come as their reads answer, not always in the order sent).
    with_photos = page.eval_on_selector_all(
        "#passage-rows tr:has(.thumb-button)", "rows => rows.map(r => r.dataset.id)")
    keys = page.locator("#photo-keys")
    expect(keys).to_be_hidden()

    for _ in range(150):
        where = tab(page)
        if where["row"]:
            break
    assert (where["cls"], where["row"]) == ("thumb-button", with_photos[0]), where
    expect(keys).to_be_visible()
    expect(keys).to_have_text("照片：↑ ↓ 换上一辆、下一辆车，回车放大，Esc 关闭")
    assert tab(page, "ArrowDown")["row"] == with_photos[1]
    page.keyboard.press("Enter")
    lightbox = page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    expect(page.locator("#lightbox-img")).to_have_attribute("alt", f"抓拍 {with_photos[1]}")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()
    back = page.evaluate(FOCUS)
    assert (back["cls"], back["row"]) == ("thumb-button", with_photos[1]), back
    expect(keys).to_be_visible()

    # One stop for all the photos: the next Tab is past them (here the page's end, as no row
    # has a button of its own).
    page.keyboard.press("Tab")
    after = page.evaluate(FOCUS)
    assert not (after["cls"] == "thumb-button" and after["row"]), after
    expect(keys).to_be_hidden()
    again = tab(page, "Shift+Tab")
    assert (again["cls"], again["row"]) == ("thumb-button", with_photos[1]), again


# A 1280x800 booth screen zoomed to 200 %: what the page lays out in (CSS px), at two device
# pixels to each, as chromium's own zoom does.
ZOOMED = {"width": 640, "height": 400}
# What lies past the window's sides, or is cut inside its own box, on what the page shows
# now. A table may scroll inside its card (WCAG 1.4.10 lets a data table scroll in two
# directions), the skip links wait off screen for a Tab, visually-hidden words are no text.
CUT_OFF = """() => {
  const seen = 'button, a, input, select, summary, label, h1, h2, p, th, td, .badge, .plate,'
    + ' .gate-state';
  const out = [];
  for (const el of document.querySelectorAll(seen)) {
    if (!el.checkVisibility() || el.closest('.table-scroll, .skip-links, .visually-hidden')
        || el.closest('dialog:not([open])')) continue;
    const r = el.getBoundingClientRect();
    const what = `${el.tagName}.${el.className} ${el.textContent.trim().slice(0, 20)}`;
    if (r.width && (r.left < -0.5 || r.right > innerWidth + 0.5))
      out.push(`${what}: ${r.left}-${r.right}`);
    if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
      out.push(`${what}: ${el.scrollWidth} px of text in ${el.clientWidth}`);
  }
  return out; }"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_at_200_percent_zoom_the_booth_page_reflows_without_sideways_scrolling(
    chromium: Any, a11y_server: LiveServer, lang: str
) -> None:
    """WCAG 1.4.10 (reflow) for a guard who zooms the booth's 1280x800 screen to 200 %: the
    page does not scroll sideways, nothing a guard reads or presses is cut at its sides
    (gates, alarms, the queue's cards, the folded menu opened), and 开闸 and 录入车牌 show
    their reasons and 确认 without scrolling (they were 470 and 550 px tall in 400)."""
    from tests.browser.test_console_small_screen_browser import DIALOG_PARTS, on_screen

    context = chromium.new_context(
        base_url=a11y_server.base_url, locale="zh-CN", timezone_id="Asia/Shanghai",
        viewport=ZOOMED, device_scale_factor=2,
    )
    context.set_default_timeout(WAIT_MS)
    try:
        context.add_cookies([{"name": "parkgate_lang", "value": lang,
                              "url": a11y_server.base_url}])
        page = context.new_page()
        enter_as(page, a11y_server, "guard", "guard")
        page.wait_for_selector('#live-dot[data-live="yes"]', timeout=STREAM_TIMEOUT_MS)
        page.wait_for_selector(".review-card")
        assert page.evaluate("devicePixelRatio") == 2
        assert page.evaluate("document.scrollingElement.scrollWidth - innerWidth") == 0
        assert page.evaluate(CUT_OFF) == []
        page.click("#nav-toggle")
        expect(page.locator(".topbar .nav")).to_be_visible()
        assert page.evaluate(CUT_OFF) == []
        page.click("#nav-toggle")
        for opener, dialog_id in (
            ('.gate[data-gate="main-in"] .gate-action.open', "#gate-dialog"),
            ('.gate[data-gate="main-in"] .typed-plate', "#typed-dialog"),
        ):
            page.click(opener)
            dialog = page.locator(dialog_id)
            expect(dialog).to_be_visible()
            parts = dialog.evaluate(DIALOG_PARTS)
            assert not parts["scrolls"], (dialog_id, parts)
            for part in (*parts["reasons"], parts["reason_text"], parts["confirm"]):
                assert on_screen(part, ZOOMED["height"]), (dialog_id, parts)
            assert page.evaluate(CUT_OFF) == []
            page.keyboard.press("Escape")
            expect(dialog).to_be_hidden()
    finally:
        context.close()
