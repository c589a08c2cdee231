"""Every console page a guard or an admin reaches, on the small screens it is read on besides
the booth's 1366 px: a phone (390x844, a property manager reading the admin pages, a guard at
the gate) and a tablet (768x1024, a guard walking the car park), in Debian chromium. What each
test checks was found wrong in a small-screen walk of the demo, logged in as each role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, enter_as
from tests.browser.test_console_admin_browser import admin_api
from tests.browser.test_console_live_browser import push_unread

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}

GUARD_PAGES = ("/console", "/console/history", "/console/alarms", "/console/password",
               "/console/admin/passes", "/console/admin/passes/1/qr")
ADMIN_PAGES = (
    *GUARD_PAGES,
    "/console/admin/users", "/console/admin/households", "/console/admin/households/import",
    "/console/admin/faces", "/console/admin/lists", "/console/admin/audit",
    "/console/admin/reports", "/console/admin/reports/month", "/console/admin/site",
)


def a_community(server: LiveServer) -> None:
    """A household with a resident and her car, a visitor pass (id 1, for its QR page), a
    blocked plate, and the audit entries these leave; and an unread new-energy plate (eight
    characters, the longest) waiting for the guard."""
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


def sideways(page: Any) -> int:
    """How far the whole page scrolls sideways, in CSS pixels."""
    return int(page.evaluate("document.scrollingElement.scrollWidth - innerWidth"))


def test_no_page_scrolls_sideways_on_a_phone_or_a_tablet(
    live_server: LiveServer, new_page: Any
) -> None:
    """The import page's file box was wider than its card at 390 px: the whole page scrolled
    22 px sideways. Each page as an admin at both sizes, the guard's at 390 px."""
    a_community(live_server)
    wide: dict[str, int] = {}
    for role, pages, viewports in (("admin", ADMIN_PAGES, (PHONE, TABLET)),
                                   ("guard", GUARD_PAGES, (PHONE,))):
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
