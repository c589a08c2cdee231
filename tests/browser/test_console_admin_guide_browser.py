"""Walking the admin guide (docs/admin-guide.zh.md) in a real browser: the /docs page it sends
managers to for faces, PINs, QR codes and the fire alarm, the admin pages on a phone, and the
confirmation before a resident's face data is deleted."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Dialog

from tests.api.test_console import PASSWORD, add_staff
from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import add_household, admin_api

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
CONSENT = "#operations-faces-record_consent_api_v1_residents__resident_id__consent_put"
HOUSEHOLDS = "#operations-admin-list_households_api_v1_households_get"


def test_the_docs_page_renders_and_runs_a_call_as_the_guide_says(
    live_server: LiveServer, new_page: Any
) -> None:
    """Swagger UI 4 (swagger-ui-bundle) said "Unable to render this definition" to the OpenAPI
    3.1 FastAPI writes: every /docs step of the guide (consent, faces, PIN, QR, fire alarm)
    was impossible. Guide section 0: Authorize, Try it out, Execute, read the code."""
    add_household(live_server)
    page = new_page()
    page.goto("/docs")
    # Swagger UI renders only after fetching and parsing /openapi.json (all of parkgate's
    # routes): a page load's time, not a click's, on a box busy with a full test run.
    page.locator(CONSENT).wait_for(timeout=30_000)
    assert "Unable to render" not in page.content()
    page.locator("button.authorize").first.click()
    page.fill("#oauth_username", "admin")
    page.fill("#oauth_password", PASSWORD)
    page.locator(".auth-btn-wrapper button.authorize").click()
    page.get_by_role("button", name="Close").click()
    operation = page.locator(HOUSEHOLDS)
    operation.locator(".opblock-summary").first.click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    answer = operation.locator(".live-responses-table tbody tr.response").first
    answer.locator(".response-col_status").filter(has_text="200").wait_for()
    assert "1201" in answer.inner_text()
    screenshot(page, "60-docs-households")


def test_the_admin_pages_fit_a_phone(live_server: LiveServer, new_page: Any) -> None:
    """Passes, lists, the audit log and the day report made a 390 px page scroll sideways
    (the tables and the report's two columns were wider than the card): a manager checking a
    visitor pass on the phone had to pan to find 状态 and 删除."""
    add_household(live_server)
    add_staff(live_server.services, "a-guard-with-a-rather-long-name-zhang-san-2026", "guard")
    with admin_api(live_server) as api:
        for path, body in (
            ("/api/v1/passes", {"plate": "粤B88888", "host_household_id": 1,
                                "valid_from": "2030-01-01T09:00+08:00",
                                "valid_to": "2030-01-02T09:00+08:00", "max_uses": 2}),
            ("/api/v1/lists", {"plate": "沪K60613", "kind": "block", "reason": "欠费未缴"}),
            ("/api/v1/residents", {"household_id": 1, "name": "王芳"}),
        ):
            assert api.post(path, json=body).status_code == 201
    page = new_page()
    page.set_viewport_size(PHONE)
    enter_as(page, live_server, "admin", "admin")
    for path in ("/console/admin/users", "/console/admin/households", "/console/admin/passes",
                 "/console/admin/lists", "/console/admin/audit", "/console/admin/reports",
                 "/console/admin/reports/month"):
        # The width does not wait for the report's chart (its size is in the markup).
        page.goto(path, wait_until="domcontentloaded")
        name = path.removeprefix("/console/admin/").replace("/", "-")
        screenshot(page, f"61-phone-{name}")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path


# Where the header's pieces are: [left, top, right, bottom] of each, rounded.
HEADER = """() => {
  const box = el => { const b = el.getBoundingClientRect();
                      return [b.left, b.top, b.right, b.bottom].map(Math.round); };
  return { parts: [document.querySelector('.brand'), ...document.querySelectorAll('.nav a'),
                   ...document.querySelectorAll('.session > *')].map(box),
           names: Array.from(document.querySelectorAll('.nav a')).map(a => a.textContent) };
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_admin_menu_is_one_line_on_a_1366_screen_and_wraps_on_a_phone(
    live_server: LiveServer, new_page: Any, lang: str
) -> None:
    """At 1366x768 the title, the eleven menu entries and 语言 · 账号 · 退出登录 took two lines
    (the log-out went below the menu, 130 px of header on every admin page). On a phone they
    fold behind 菜单 (test_console_small_screen_browser) and, opened, wrap, every entry whole
    on the screen and big enough for a finger."""
    page = new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    enter_as(page, live_server, "admin", "admin")
    if lang == "en":
        page.locator("#lang-switch").click()
        page.wait_for_load_state()
    page.goto("/console/admin/households")
    screenshot(page, f"62-admin-menu-1366-{lang}")
    header = page.evaluate(HEADER)
    # nothing hidden (报警记录 and 场内车辆 too)
    assert len(header["names"]) == 12, header["names"]
    tops = {top for _left, top, _right, _bottom in header["parts"]}
    bottoms = {bottom for _left, _top, _right, bottom in header["parts"]}
    # One row: every piece within the 48 px of a menu entry, none past the right edge.
    assert max(bottoms) - min(tops) <= 48, header["parts"]
    assert max(right for _l, _t, right, _b in header["parts"]) <= 1366

    page.set_viewport_size(PHONE)
    page.reload()
    page.locator("#nav-toggle").click()
    screenshot(page, f"62-admin-menu-phone-{lang}")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for left, top, right, bottom in page.evaluate(HEADER)["parts"][1:13]:  # the entries
        assert left >= 0 and right <= PHONE["width"], (left, right)
        assert right - left >= 44 and bottom - top >= 44, (left, top, right, bottom)


def test_deleting_a_resident_asks_first_and_says_their_faces_go_too(
    live_server: LiveServer, new_page: Any
) -> None:
    from models.db import transaction
    from models.faces import FaceTemplate

    add_household(live_server)
    with admin_api(live_server) as api:
        assert api.post("/api/v1/residents",
                        json={"household_id": 1, "name": "王芳"}).status_code == 201
    with transaction(live_server.services.sessions) as session:
        session.add(FaceTemplate(resident_id=1, embedding=bytes(512)))
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/households")
    asked: list[str] = []
    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    row = page.locator("section.card").nth(1).locator("tbody tr", has_text="王芳")
    row.locator("button.deny").click()
    page.wait_for_timeout(300)
    assert asked == ["删除住户成员 #1 王芳？其人脸数据（1 条）和通行密码将一并删除，无法恢复。"]
    with admin_api(live_server) as api:  # dismissed: nothing was deleted
        assert [r["name"] for r in api.get("/api/v1/residents").json()] == ["王芳"]
