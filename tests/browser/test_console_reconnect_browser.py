"""The booth page after its event stream was cut (the booth's network dropped, the server
restarted behind a proxy): once the dot is green again the page shows what came meanwhile,
the car waiting for the guard and its row, without the guard pressing F5. Debian chromium;
the stream is refused by the browser's own routing until the cars have come."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    STREAM_TIMEOUT_MS,
    LiveServer,
    browser_context,
    enter_as,
)
from tests.browser.test_console_live_browser import guard_page, push_unread
from tests.db_outage import TcpProxy

pytestmark = pytest.mark.browser

STREAM = "**/api/v1/events/stream"
# Chromium's offline mode leaves an open stream alone: the page's EventSources are kept where
# a test can end one, as a dropped connection the browser gives up on ends.
KEEP_STREAMS = """
    const Native = window.EventSource;
    window.__streams = [];
    window.EventSource = function (url, options) {
      const stream = new Native(url, options);
      window.__streams.push(stream);
      return stream;
    };
    window.EventSource.CLOSED = Native.CLOSED;
"""


def cut_the_stream(page: Any) -> None:
    """The booth's stream ends and the server refuses the next ones (it restarts, a network
    in between drops): the page retries every 5 s until STREAM is unrouted."""
    page.route(STREAM, lambda route: route.fulfill(status=503, body="restarting"))
    page.evaluate("""() => {
        const stream = window.__streams[window.__streams.length - 1];
        stream.close();
        stream.onerror(new Event("error"));
    }""")
    expect(page.locator("#live-dot")).to_have_attribute("data-live", "no")


def test_what_came_while_the_page_was_offline_is_shown_when_it_is_back(
    live_server: LiveServer, new_page: Any
) -> None:
    before = push_unread(live_server)
    page = new_page()
    page.add_init_script(KEEP_STREAMS)
    page = guard_page(lambda: page, live_server)
    expect(page.locator(f'#passage-rows tr[data-id="{before}"]')).to_be_visible()

    cut_the_stream(page)
    missed = [push_unread(live_server), push_unread(live_server, "main-out")]
    page.unroute(STREAM)

    expect(page.locator("#live-dot")).to_have_attribute("data-live", "yes", timeout=30_000)
    for passage_id in missed:
        expect(page.locator(f'#passage-rows tr[data-id="{passage_id}"]')).to_be_visible()
        expect(page.locator(f'.review-card[data-passage="{passage_id}"]')).to_be_visible()
    # Newest on top, as the live rows are, and the row from before is there once.
    ids = page.eval_on_selector_all("#passage-rows tr[data-id]",
                                    "rows => rows.map(r => Number(r.dataset.id))")
    assert ids[:3] == [missed[1], missed[0], before]
    assert ids.count(before) == 1



def test_after_a_long_drop_the_list_has_no_hole(live_server: LiveServer, new_page: Any) -> None:
    """More cars than the 50 the page used to fetch came while the stream was down (a long
    drop at a busy hour): every one is in the list once it is back, oldest below."""
    from tests.browser.test_console_busy_shift_browser import add_passages

    page = new_page()
    page.add_init_script(KEEP_STREAMS)
    page = guard_page(lambda: page, live_server)
    cut_the_stream(page)
    missed = add_passages(live_server, 70)
    page.unroute(STREAM)

    expect(page.locator("#live-dot")).to_have_attribute("data-live", "yes", timeout=30_000)
    # Fetched oldest first, each put on top: the newest comes last.
    expect(page.locator(f'#passage-rows tr[data-id="{missed[-1]}"]')).to_be_visible()
    ids = page.eval_on_selector_all("#passage-rows tr[data-id]",
                                    "rows => rows.map(r => Number(r.dataset.id))")
    assert ids[:70] == missed[::-1]


def test_a_stream_gone_silent_shows_the_page_offline_and_it_catches_up_once_back(
    quick_heartbeat_server: LiveServer, chromium: Any
) -> None:
    """The booth's network drops packets instead of refusing them (a hung router): the stream
    is neither ended nor refused, and the browser would wait on it with the dot green while
    cars came and went unseen. The page counts two missed heartbeats as a lost stream: the dot
    turns red, it connects again, and once through it shows the car that came meanwhile and
    the guard can deal with it."""
    server = quick_heartbeat_server
    proxy = TcpProxy(("127.0.0.1", int(server.base_url.rsplit(":", 1)[1])))
    proxy.start()
    context = browser_context(chromium, f"http://127.0.0.1:{proxy.port}")
    try:
        page = context.new_page()
        page.add_init_script(KEEP_STREAMS)
        enter_as(page, server, "guard", "guard")  # the cookie is the host's, any port
        live = page.locator("#live-dot")
        expect(live).to_have_attribute("data-live", "yes", timeout=STREAM_TIMEOUT_MS)

        proxy.hold()
        expect(live).to_have_attribute("data-live", "no")
        missed = push_unread(server)  # straight to the server: the gates work on
        proxy.release()

        expect(live).to_have_attribute("data-live", "yes")
        expect(page.locator(f'#passage-rows tr[data-id="{missed}"]')).to_be_visible()
        card = page.locator(f'.review-card[data-passage="{missed}"]')
        card.locator('input[name="reason_text"]').fill("无登记，已劝离")
        card.locator('button[data-resolution="deny"]').click()
        card.wait_for(state="detached")
        assert page.locator("#toast").inner_text().startswith("东门入口：已拒绝")
        # One stream left open, not one per attempt made while the network was held.
        streams = page.evaluate("window.__streams.map(s => s.readyState)")
        assert len(streams) >= 2 and streams.count(2) == len(streams) - 1, streams
    finally:
        proxy.release()
        context.close()
        proxy.cut()
