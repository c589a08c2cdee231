"""What a console page shows after its event stream missed something: a network that went
silent under the admin's 车位 page, a booth page that read its stream too slowly (the server
dropped events it could not hold), and rows that changed while the booth was cut off. Each
time the page reads the present state again, without the guard pressing F5. Debian
chromium on the live server."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from controllers.events import Event
from models.db import transaction
from models.events import Passage
from tests.api.test_database_outage import RESIDENT, wait_for
from tests.browser.conftest import (
    STREAM_TIMEOUT_MS,
    LiveServer,
    browser_context,
    enter_as,
)
from tests.browser.test_console_admin_browser import admin_api
from tests.browser.test_console_busy_shift_browser import add_passages
from tests.browser.test_console_guide_browser import on_the_server_loop
from tests.browser.test_console_live_browser import guard_page, push_unread
from tests.browser.test_console_outage_browser import (  # noqa: F401 - a fixture used below
    outage_server,
    push_frame,
)
from tests.browser.test_console_reconnect_browser import KEEP_STREAMS, STREAM, cut_the_stream
from tests.db_outage import DatabaseOutage, TcpProxy

pytestmark = pytest.mark.browser

# How long a page may take to notice what it is tested for: a 0.5 s heartbeat is taken as
# lost after 3 s; a resync or a reconnect is read again at once.
NOTICED_MS = 10_000


def test_the_site_page_notices_a_silent_stream_and_reads_the_counts_once_back(
    quick_heartbeat_server: LiveServer, chromium: Any
) -> None:
    """The admin's 车位 page behind a network that drops packets (a hung router): it said
    实时更新 over counts that no longer moved. Now it turns red after two missed heartbeats,
    connects again, and reads the count corrected meanwhile."""
    server = quick_heartbeat_server
    proxy = TcpProxy(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    proxy.start()
    context = browser_context(chromium, f"http://127.0.0.1:{proxy.port}")
    try:
        page = context.new_page()
        page.add_init_script(KEEP_STREAMS)
        enter_as(page, server, "admin", "admin")  # the cookie is the host's, any port
        page.goto("/console/admin/site")
        live = page.locator("#site-live")
        expect(live).to_have_attribute("data-live", "yes", timeout=STREAM_TIMEOUT_MS)

        proxy.hold()
        expect(live).to_have_attribute("data-live", "no", timeout=NOTICED_MS)
        expect(live).to_contain_text("实时连接中断，正在重连")
        with admin_api(server) as api:  # straight to the server, as another admin
            fixed = api.put("/api/v1/zones/B/occupancy", json={"occupied": 4, "reason": "人工盘点"})
            assert fixed.status_code == 200, fixed.text
        proxy.release()

        expect(live).to_have_attribute("data-live", "yes", timeout=NOTICED_MS)
        expect(page.locator('tr[data-zone="B"] td.occupied')).to_have_text("4")
        # One stream left open, not one per attempt made while the network was held.
        streams = page.evaluate("window.__streams.map(s => s.readyState)")
        assert len(streams) >= 2 and streams.count(2) == len(streams) - 1, streams
    finally:
        proxy.release()
        context.close()
        proxy.cut()


def resolve_in_database(server: LiveServer, passage_id: int) -> None:
    """Denied at another booth, its event lost on the way to this page."""
    with transaction(server.services.sessions) as session:
        passage = session.get(Passage, passage_id)
        assert passage is not None
        passage.resolution, passage.resolved_by = "denied", "guard2"
        passage.resolved_at = passage.at


def test_a_booth_page_behind_its_stream_catches_up_when_told_to_resync(
    live_server: LiveServer, new_page: Any
) -> None:
    """More events at once than the server keeps for a page (256; a journal written back
    after an outage, a slow booth link): the oldest were dropped and the page missed them
    without a sign. The server now says resync, and the page reads the rows again: the car
    it missed is added, the row resolved meanwhile shows the guard's decision, and the
    stream stays open (no reconnect, the dot stays green)."""
    page = new_page()
    page.add_init_script(KEEP_STREAMS)
    page = guard_page(lambda: page, live_server)
    shown = push_unread(live_server)
    row = page.locator(f'#passage-rows tr[data-id="{shown}"]')
    expect(row).to_be_visible()
    expect(row).not_to_have_attribute("data-resolution", "denied")

    (missed,) = add_passages(live_server, 1)  # stored, its event among those dropped
    resolve_in_database(live_server, shown)
    bus = live_server.services.bus

    def burst() -> None:  # in one go on the server's loop: the stream reads none meanwhile
        for i in range(300):  # events this page does not follow, as many as a burst brings
            bus.publish(Event("audit", {"id": i}))

    on_the_server_loop(live_server, burst)
    expect(page.locator(f'#passage-rows tr[data-id="{missed}"]')).to_be_visible(
        timeout=NOTICED_MS
    )
    expect(row).to_have_attribute("data-resolution", "denied")
    ids = page.eval_on_selector_all("#passage-rows tr[data-id]",
                                    "rows => rows.map(r => Number(r.dataset.id))")
    assert ids[:2] == [missed, shown] and ids.count(shown) == 1
    expect(page.locator("#live-dot")).to_have_attribute("data-live", "yes")
    assert page.evaluate("window.__streams.length") == 1


def test_rows_changed_while_the_booth_was_cut_off_are_refreshed_once_back(
    live_server: LiveServer, new_page: Any
) -> None:
    """A car on the page was dealt with at the other booth while this one's stream was down:
    its card went (the queue is read again), but its row stayed 待人工确认 as if nobody had
    acted. Once back the rows shown are read again with those that came meanwhile."""
    (steady,) = add_passages(live_server, 1)
    first = push_unread(live_server)
    page = new_page()
    page.add_init_script(KEEP_STREAMS)
    page = guard_page(lambda: page, live_server)
    row = page.locator(f'#passage-rows tr[data-id="{first}"]')
    expect(row).to_be_visible()
    # A row that does not change is left as it is (its snapshot is not fetched again).
    kept = page.locator(f'#passage-rows tr[data-id="{steady}"]')
    kept.evaluate("r => { r.__kept = true; }")

    cut_the_stream(page)
    # The other booth denies it, through the API.
    with admin_api(live_server) as api:
        resolved = api.post(f"/api/v1/passages/{first}/resolve",
                            json={"resolution": "deny", "reason": "无登记，已劝离"})
        assert resolved.status_code == 200, resolved.text
    missed = push_unread(live_server, "main-out")
    page.unroute(STREAM)

    expect(page.locator("#live-dot")).to_have_attribute("data-live", "yes", timeout=NOTICED_MS)
    expect(page.locator(f'#passage-rows tr[data-id="{missed}"]')).to_be_visible()
    expect(row).to_have_attribute("data-resolution", "denied")
    expect(row.locator(".resolve-reason")).to_contain_text("无登记，已劝离")
    expect(page.locator(f'.review-card[data-passage="{first}"]')).to_have_count(0)
    ids = page.eval_on_selector_all("#passage-rows tr[data-id]",
                                    "rows => rows.map(r => Number(r.dataset.id))")
    assert ids[:3] == [missed, first, steady]
    assert kept.evaluate("r => r.__kept") is True


def test_cars_written_from_the_journal_while_the_booth_was_cut_off_replace_their_journal_rows(
    outage_server: LiveServer,  # noqa: F811
    outage: DatabaseOutage,
    chromium: Any,
) -> None:
    """Cars decided during a database outage are shown from the journal. The booth's stream
    was cut while the journal was written back, so it missed the events that replace each
    journal row with its stored one; its catch-up then added the stored rows and left the
    journal rows too: each car twice, once as 离线判定 not stored yet, open to a guard's
    action naming the journal. Now each stored row takes its journal row's place. The guard
    has the gate dialog open meanwhile, so the page does not reload itself with the
    database (which would hide the duplicates) and keeps its rows."""
    services = outage_server.services
    wait_for(lambda: RESIDENT in getattr(services.offline_file.load(), "permits", {}))
    context = browser_context(chromium, outage_server.base_url)
    try:
        page = context.new_page()
        page.add_init_script(KEEP_STREAMS)
        enter_as(page, outage_server, "guard", "guard")
        expect(page.locator("#live-dot")).to_have_attribute("data-live", "yes")
        older = push_frame(outage_server, "main-in", "粤B12121")["passage_id"]
        expect(page.locator(f'#passage-rows tr[data-id="{older}"]')).to_be_visible()

        outage.cut(services.engine)
        offline = [push_frame(outage_server, "main-in", plate)["journal_id"]
                   for plate in (RESIDENT, "粤B67890")]
        for journal_id in offline:
            expect(page.locator(f'#passage-rows tr[data-journal="{journal_id}"]')).to_be_visible()
        cut_the_stream(page)
        page.evaluate("window.__same_page = true")  # gone if the page reloads
        page.click('.gate[data-gate="main-in"] button[data-action="open"]')
        expect(page.locator("#gate-dialog")).to_be_visible()

        outage.restore()
        wait_for(lambda: not services.runtime.journal_waiting(), timeout_s=30)
        with transaction(services.sessions) as session:
            stored = {
                p.journal_id: p.id
                for p in session.scalars(select(Passage).where(Passage.journal_id.in_(offline)))
            }
        first, second = (stored[journal_id] for journal_id in offline)
        page.unroute(STREAM)

        expect(page.locator("#live-dot")).to_have_attribute("data-live", "yes", timeout=NOTICED_MS)
        expect(page.locator(f'#passage-rows tr[data-id="{first}"]')).to_be_visible()
        expect(page.locator("#passage-rows tr[data-journal]")).to_have_count(0)
        ids = page.eval_on_selector_all("#passage-rows tr",
                                        "rows => rows.map(r => Number(r.dataset.id))")
        assert ids == [second, first, older]  # where their journal rows stood, once each
        named = page.locator(f'tr[data-id="{second}"]').get_attribute("data-written-from")
        assert named == offline[1]
        assert page.evaluate("window.__same_page") is True
        expect(page.locator("#gate-dialog")).to_be_visible()
    finally:
        context.close()


def test_cars_decided_offline_while_the_booth_was_cut_off_are_shown_once_back(
    outage_server: LiveServer,  # noqa: F811
    outage: DatabaseOutage,
    chromium: Any,
) -> None:
    """The booth's network is cut while the database is down, and meanwhile a resident's car
    is let in offline and a stranger's is left for the guard (待人工). Both wait in the
    journal, not in the database, so the page's catch-up (the newest stored rows) missed
    them: the guard never saw the car at the barrier. Now the catch-up reads the journal
    too and shows them as the live rows from the journal are shown; once the database is
    back and the journal written, each car is its stored row, once, where it stood. The
    guard has the gate dialog open meanwhile, so the page keeps its rows instead of reloading
    itself with the database (which would hide a duplicate)."""
    services = outage_server.services
    wait_for(lambda: RESIDENT in getattr(services.offline_file.load(), "permits", {}))
    proxy = TcpProxy(("127.0.0.1", int(outage_server.base_url.rsplit(":", 1)[1])))
    proxy.start()
    context = browser_context(chromium, f"http://127.0.0.1:{proxy.port}")
    try:
        page = context.new_page()
        enter_as(page, outage_server, "guard", "guard")  # the cookie is the host's, any port
        dot = page.locator("#live-dot")
        expect(dot).to_have_attribute("data-live", "yes", timeout=STREAM_TIMEOUT_MS)
        older = push_frame(outage_server, "main-in", "粤B12121")["passage_id"]
        expect(page.locator(f'#passage-rows tr[data-id="{older}"]')).to_be_visible()

        outage.cut(services.engine)
        proxy.cut()  # the booth's cable: its stream ends and nothing reaches the server
        expect(dot).to_have_attribute("data-live", "no", timeout=NOTICED_MS)
        let_in = push_frame(outage_server, "main-in", RESIDENT)
        waiting = push_frame(outage_server, "main-in", "粤B67890")  # nobody's car
        assert (let_in["decision"], waiting["decision"]) == ("allow", "review")
        offline = [let_in["journal_id"], waiting["journal_id"]]
        assert all(offline) and let_in["passage_id"] is None
        proxy.restore()

        expect(dot).to_have_attribute("data-live", "yes", timeout=STREAM_TIMEOUT_MS)
        for journal_id, plate in zip(offline, (RESIDENT, "粤B67890"), strict=True):
            row = page.locator(f'#passage-rows tr[data-journal="{journal_id}"]')
            expect(row).to_be_visible(timeout=NOTICED_MS)
            expect(row).to_contain_text(plate)
            expect(row).to_contain_text("离线判定")
        expect(page.locator(f'tr[data-journal="{offline[1]}"]')).to_have_attribute(
            "data-decision", "review")
        shown = page.eval_on_selector_all(
            "#passage-rows tr", "rows => rows.map(r => r.dataset.journal || Number(r.dataset.id))")
        assert shown == [offline[1], offline[0], older]  # newest first, each once

        page.evaluate("window.__same_page = true")  # gone if the page reloads
        page.click('.gate[data-gate="main-in"] button[data-action="open"]')
        expect(page.locator("#gate-dialog")).to_be_visible()
        outage.restore()
        wait_for(lambda: not services.runtime.journal_waiting(), timeout_s=30)
        with transaction(services.sessions) as session:
            stored = {
                p.journal_id: p.id
                for p in session.scalars(select(Passage).where(Passage.journal_id.in_(offline)))
            }
        first, second = (stored[journal_id] for journal_id in offline)
        expect(page.locator(f'#passage-rows tr[data-id="{second}"]')).to_be_visible()
        expect(page.locator(f'#passage-rows tr[data-id="{first}"]')).to_be_visible()
        expect(page.locator("#passage-rows tr[data-journal]")).to_have_count(0)
        ids = page.eval_on_selector_all("#passage-rows tr",
                                        "rows => rows.map(r => Number(r.dataset.id))")
        assert ids == [second, first, older]
        assert page.evaluate("window.__same_page") is True
    finally:
        context.close()
        proxy.cut()


def test_a_car_recorded_while_the_page_connects_its_stream_is_shown(
    live_server: LiveServer, new_page: Any
) -> None:
    """The booth page is rendered, then opens its stream: a car recorded in between was in
    neither (its event went out before the stream listened), and the guard never saw it
    until the next reload. Seen after the page's own reload at the end of an outage, while
    the journal was being written. The stream is held here until the car is recorded."""
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    held: list[Any] = []
    page.route(STREAM, lambda route: held.append(route))
    page.goto("/console")
    for _ in range(600):  # the page asks for its stream once its scripts run
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the page never asked for its event stream"
    missed = push_unread(live_server)  # recorded and announced with no stream listening
    held[0].continue_()
    expect(page.locator("#live-dot")).to_have_attribute(
        "data-live", "yes", timeout=STREAM_TIMEOUT_MS)
    expect(page.locator(f'#passage-rows tr[data-id="{missed}"]')).to_be_visible(
        timeout=NOTICED_MS)
