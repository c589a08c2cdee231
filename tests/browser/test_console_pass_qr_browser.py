"""A visitor pass's QR code, from the page a guard shows the visitor to the pedestrian gate:
the picture as the browser draws it scans back (OpenCV's detector, as a scanner would) to a
code that opens the gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import cv2
import numpy as np
import pytest

from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import add_household, admin_api

pytestmark = pytest.mark.browser

CAMERA = {"X-API-Key": "test-camera-key"}


def _four_hour_pass(server: LiveServer, max_uses: int | None = None) -> int:
    """A visitor pass for 粤B88888 from now, for a household added for it."""
    add_household(server)
    start = datetime.now(UTC).replace(microsecond=0)
    with admin_api(server) as api:
        hid = api.get("/api/v1/households").json()[0]["id"]
        created = api.post("/api/v1/passes", json={
            "plate": "粤B88888", "host_household_id": hid, "valid_from": start.isoformat(),
            "valid_to": (start + timedelta(hours=4)).isoformat(), "max_uses": max_uses})
        assert created.status_code == 201, created.text
    return int(created.json()["id"])


def read_qr(image: np.ndarray) -> str:
    """The code a scanner reads off the picture. OpenCV's classic detector misses some valid
    codes outright (this page's code for PG2.1.5245bef903618d0275d6, a CI failure, which its
    ArUco-based detector and phone scanners read), so both are asked."""
    for detector in (cv2.QRCodeDetectorAruco(), cv2.QRCodeDetector()):
        decoded, _points, _ = detector.detectAndDecode(image)
        if decoded:
            return str(decoded)
    return ""


def test_the_drawn_qr_code_opens_the_pedestrian_gate(
    live_server: LiveServer, new_page: Any
) -> None:
    pass_id = _four_hour_pass(live_server, max_uses=1)

    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    page.goto("/console/admin/passes")
    page.click(f'a[href="/console/admin/passes/{pass_id}/qr"]')
    page.wait_for_url(f"**/passes/{pass_id}/qr")
    picture = page.locator(".qr-picture svg").screenshot()
    screenshot(page, "pass_qr")
    image = cv2.imdecode(np.frombuffer(picture, np.uint8), cv2.IMREAD_COLOR)
    decoded = read_qr(image)
    assert decoded == page.locator(".qr-code-text code").inner_text()

    with admin_api(live_server) as api:
        answer = api.post("/api/v1/gates/ped-1/credentials", headers=CAMERA,
                          json={"kind": "qr", "code": decoded}).json()
    assert (answer["decision"], answer["reason"]) == ("allow", "qr_pass")
    page.reload()
    assert page.locator(".pass-qr").get_attribute("data-status") == "used_up"
    assert "二维码已不能开门" in page.locator(".pass-qr").inner_text()


def test_printed_only_the_code_and_the_pass_facts_show_black_on_white(
    live_server: LiveServer, new_page: Any
) -> None:
    pass_id = _four_hour_pass(live_server)
    page = new_page()
    enter_as(page, live_server, "guard", "guard")
    page.goto(f"/console/admin/passes/{pass_id}/qr")
    page.emulate_media(media="print")
    screenshot(page, "pass_qr_printed")
    shown = page.evaluate("""() => Array.from(document.querySelectorAll('main *'))
        .filter((el) => el.checkVisibility() && el.children.length === 0 && el.textContent.trim())
        .map((el) => el.textContent.trim())""")
    # The title, the code's text and the facts; not the way back, the print button, or the
    # advice meant for the guard ("不要发到群里").
    assert "粤B88888" in shown and "3栋 1201" in shown
    assert page.locator(".qr-picture svg").is_visible()
    for hidden in ("← 返回访客通行证", "打印"):
        assert hidden not in shown
    assert not any("群里" in text for text in shown)
    assert page.locator("header.topbar").is_hidden()
    # Black on white, the table's lines included.
    colours = page.locator(".qr-facts td").first.evaluate("""(el) => {
        const s = getComputedStyle(el);
        return [s.color, s.borderBottomColor, getComputedStyle(document.body).backgroundColor];
    }""")
    assert colours == ["rgb(0, 0, 0)", "rgb(0, 0, 0)", "rgb(255, 255, 255)"]
