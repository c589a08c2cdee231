"""Console pages that go somewhere by themselves, whose controller cannot be reached (its
power cut, the booth's network down), in Debian chromium: the idle log-out and the outage
page's reload.

Found walking guide 1 and 7 with the controller's power cut (the demo killed, started again):
the page, idle past its time-out, sent its log-out form to a controller that was off and was
left on chromium's own 「This site can't be reached」, which stayed when the controller came
back: no alarms, no cars, until someone reloaded it. The page's clock is Playwright's, so
15 minutes pass at once; the controller being out of reach is every request refused.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, browser_context, enter_as
from tests.browser.test_console_outage_browser import outage_server  # noqa: F401 - a fixture
from tests.db_outage import DatabaseOutage

pytestmark = pytest.mark.browser

IDLE_TICK_MS = 5_000  # common.js looks at the idle time this often


def test_an_idle_page_logs_out_once_its_controller_answers_again(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    page.clock.install()
    enter_as(page, live_server, "guard", "guard")
    expect(page.locator("#live-dot")).to_have_attribute("data-live", "yes")

    page.route("**/*", lambda route: route.abort("connectionrefused"))  # the power is cut
    page.clock.fast_forward("16:00")  # past the 15 minutes' idle time-out
    page.clock.fast_forward(IDLE_TICK_MS)
    page.wait_for_timeout(1_500)  # what a log-out sent now would have done, done
    expect(page).to_have_url(re.compile(r"/console$"))
    expect(page.locator('.gate[data-gate="main-in"]')).to_be_visible()

    page.unroute("**/*")  # the controller is back
    page.clock.fast_forward(IDLE_TICK_MS)
    expect(page).to_have_url(re.compile(r"/console/login\?idle=1&next=/console$"))
    expect(page.locator("main")).to_contain_text("长时间未操作，已自动退出，请重新登录")


def test_the_outage_page_waits_for_its_controller_before_reloading(
    outage_server: LiveServer, outage: DatabaseOutage, chromium: Any  # noqa: F811
) -> None:
    """Guide 7.1: the page that says only 「数据库暂时不可用」 reloads itself every 10 s and is the
    page asked for once the database is back. Reloaded into a controller that was off, it was
    chromium's error page from then on."""
    context = browser_context(chromium, outage_server.base_url)
    try:
        page = context.new_page()
        enter_as(page, outage_server, "guard", "guard")
        outage.cut(outage_server.services.engine)
        page.goto("/console/history")
        expect(page.locator("main h1")).to_have_text("数据库暂时不可用")

        page.route("**/*", lambda route: route.abort("connectionrefused"))  # the power is cut
        page.wait_for_timeout(12_000)  # one reload's time, and a little more
        expect(page).to_have_url(re.compile(r"/console/history$"))
        expect(page.locator("main h1")).to_have_text("数据库暂时不可用")

        page.unroute("**/*")  # the controller is back, and then the database
        outage.restore()
        expect(page.locator("#history-filter")).to_be_visible()
    finally:
        context.close()
