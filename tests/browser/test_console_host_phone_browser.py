"""The guard calls the host before making a visitor a pass (访客通行证, guard guide 5): the
chosen household's residents are listed under the form with their phones masked, and
显示号码 gives one whole number as a tel: link, reached and pressed from the keyboard; the
reveal is in the audit log, without the number."""

from __future__ import annotations

from typing import Any

import pytest

from models.events import AuditEntry
from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import add_household, admin_api

pytestmark = pytest.mark.browser

PHONE = "13800138000"


def test_a_guard_reveals_the_hosts_number_to_call_it(
    live_server: LiveServer, new_page: Any
) -> None:
    add_household(live_server)
    with admin_api(live_server) as api:
        hid = api.get("/api/v1/households").json()[0]["id"]
        for name, phone in (("张伟", PHONE), ("李娜", None)):
            made = api.post("/api/v1/residents",
                            json={"household_id": hid, "name": name, "phone": phone})
            assert made.status_code == 201, made.text
        resident = api.get("/api/v1/residents").json()[0]["id"]

    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    page.goto("/console/admin/passes")
    box = page.locator(".host-phones")
    assert "选好「住户」后" in box.inner_text()
    # As the guide says: type the flat in the search box; the one household left is chosen.
    page.locator("#pass-form input.household-search").fill("3栋 1201")
    first = box.locator("li").first
    first.wait_for()
    rows = [[part.inner_text() for part in li.locator("span").all()]
            for li in box.locator("li").all()]
    assert rows == [["张伟", "138****8000"], ["李娜", "未登记电话"]]
    assert PHONE not in page.content()
    reveal = box.get_by_role("button", name="显示张伟的完整号码（记入操作日志）")
    reveal.focus()
    page.keyboard.press("Enter")

    call = box.locator("a.host-call")
    call.wait_for()
    assert call.get_attribute("href") == f"tel:{PHONE}"
    assert call.inner_text() == f"拨打 {PHONE}"
    assert call.evaluate("a => a === document.activeElement")  # the focus went on to it
    assert box.get_by_role("button").count() == 0  # 李娜 has no number, nothing to reveal
    screenshot(page, "host_phone_revealed")

    with live_server.services.sessions() as session:
        entries = [(e.username, e.target, e.details) for e in session.query(AuditEntry)
                   .filter(AuditEntry.action == "resident.phone_reveal")]
    assert entries == [("guard", f"resident:{resident}", {"household_id": hid})]
