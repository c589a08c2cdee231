"""车位计数 in a real browser: a count over the zone's capacity is refused naming the zone as
the reports do (区域 A · A区地面), through the page's own script (errors.js)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer, enter_as

pytestmark = pytest.mark.browser


def test_a_count_over_capacity_is_refused_naming_the_zone(
    live_server: LiveServer, new_page: Any
) -> None:
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/site")
    row = page.locator('tr[data-zone="A"]')
    row.locator("summary").click()
    # Past the field's own max (the browser would stop it): as a count typed while the
    # capacity changed, or a stale page.
    row.locator('input[name="occupied"]').evaluate("input => input.removeAttribute('max')")
    row.locator('input[name="occupied"]').fill("41")
    row.locator('input[name="reason"]').fill("晚上十点人工盘点")
    row.locator('button[type="submit"]').click()
    expect(row.locator('p.error[role="alert"]')).to_have_text(
        "停放数要在 0 到 40 之间（区域 A · A区地面），填的是 41")
