"""The idle log-out of a booth page whose controller cannot be reached, in Debian chromium.

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

from tests.browser.conftest import LiveServer, enter_as

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
