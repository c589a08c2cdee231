"""The booth page after its event stream was cut (the booth's network dropped, the server
restarted behind a proxy): once the dot is green again the page shows what came meanwhile,
the car waiting for the guard and its row, without the guard pressing F5. Debian chromium;
the stream is refused by the browser's own routing until the cars have come."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer
from tests.browser.test_console_live_browser import guard_page, push_unread

pytestmark = pytest.mark.browser

STREAM = "**/api/v1/events/stream"


def test_what_came_while_the_page_was_offline_is_shown_when_it_is_back(
    live_server: LiveServer, new_page: Any
) -> None:
    before = push_unread(live_server)
    page = new_page()
    # Chromium's offline mode leaves an open stream alone: the page's EventSource is kept
    # where the test can end it, as a dropped connection the browser gives up on ends.
    page.add_init_script("""
        const Native = window.EventSource;
        window.__streams = [];
        window.EventSource = function (url, options) {
          const stream = new Native(url, options);
          window.__streams.push(stream);
          return stream;
        };
        window.EventSource.CLOSED = Native.CLOSED;
    """)
    page = guard_page(lambda: page, live_server)
    expect(page.locator(f'#passage-rows tr[data-id="{before}"]')).to_be_visible()

    page.route(STREAM, lambda route: route.fulfill(status=503, body="restarting"))
    page.evaluate("""() => {
        const stream = window.__streams[window.__streams.length - 1];
        stream.close();
        stream.onerror(new Event("error"));
    }""")
    expect(page.locator("#live-dot")).to_have_attribute("data-live", "no")
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
