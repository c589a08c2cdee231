"""步行访客 on the pass form, as a guard at the booth uses it: an empty plate without the box
is refused in Chinese (a forgotten plate is not a walk-in pass); ticking the box empties and
disables the plate, creates a plateless pass shown as 步行, and its QR page draws a code
that opens the pedestrian gate."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import FORM, add_household, admin_api
from tests.browser.test_console_pass_qr_browser import CAMERA, read_qr

pytestmark = pytest.mark.browser


def test_a_guard_registers_a_visitor_on_foot(live_server: LiveServer, new_page: Any) -> None:
    add_household(live_server)
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    page.goto("/console/admin/passes")
    page.select_option(f'{FORM} select[name="host_household_id"]', label="3栋 1201")

    # A box to tick beside its words, not a blank field-sized square above them.
    box = page.locator(f'{FORM} input[name="walk_in"]').bounding_box()
    words = page.locator(f"{FORM} label.walk-in-choice").bounding_box()
    assert box is not None and words is not None
    assert box["width"] <= 32 and box["height"] <= 32, box
    assert box["y"] >= words["y"] and box["y"] + box["height"] <= words["y"] + words["height"]
    assert words["width"] >= box["width"] + 80, (box, words)  # the words are on its line

    page.click(f'{FORM} button[type="submit"]')
    error = page.locator(f"{FORM} .error")
    error.wait_for(state="visible")
    assert error.inner_text() == "请填写车牌；没有车的访客请勾选「步行访客（无车牌）」"
    with admin_api(live_server) as api:
        assert api.get("/api/v1/passes").json() == []

    plate = page.locator(f'{FORM} input[name="plate"]')
    plate.fill("粤B88888")
    page.check(f'{FORM} input[name="walk_in"]')
    assert plate.is_disabled() and plate.input_value() == ""
    page.click(f'{FORM} button[type="submit"]')
    page.wait_for_selector('#pass-rows td.plate:has-text("步行")')
    screenshot(page, "walk_in_pass_list")
    with admin_api(live_server) as api:
        passes = api.get("/api/v1/passes").json()
    assert [(p["plate"], p["walk_in"]) for p in passes] == [(None, True)]

    page.click(f'a[href="/console/admin/passes/{passes[0]["id"]}/qr"]')
    page.wait_for_url(f"**/passes/{passes[0]['id']}/qr")
    assert page.locator(".qr-facts td.plate").inner_text() == "步行"
    picture = page.locator(".qr-picture svg").screenshot()
    decoded = read_qr(cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR))
    assert decoded == page.locator(".qr-code-text code").inner_text()
    with admin_api(live_server) as api:
        answer = api.post(
            "/api/v1/gates/ped-1/credentials", headers=CAMERA, json={"kind": "qr", "code": decoded}
        ).json()
    assert (answer["decision"], answer["reason"]) == ("allow", "qr_pass")
