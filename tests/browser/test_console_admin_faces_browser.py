"""The face and PIN page in a real browser: a property manager records a resident's consent,
enrols a real photo, deletes it on request, sets and clears a PIN, and reads every refusal
in Chinese, with no visit to the English /docs page."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Dialog, expect
from sqlalchemy import select

from models.db import transaction
from models.events import Alarm, Passage
from tests.api.test_faces import ALEX, OBAMA, _height, _jpeg, photo
from tests.browser.conftest import LiveServer, enter_as, screenshot
from tests.browser.test_console_admin_browser import admin_api

pytestmark = pytest.mark.browser


def _resident(server: LiveServer) -> int:
    with admin_api(server) as api:
        hid = api.post("/api/v1/households", json={"building": "3栋", "unit": "1201"}).json()["id"]
        return int(api.post("/api/v1/residents",
                            json={"household_id": hid, "name": "王奶奶"}).json()["id"])


def _open(page: Any, rid: int) -> Any:
    """The resident's row with its management panel opened."""
    row = page.locator(f'tr[data-resident="{rid}"]')
    row.locator("summary").click()
    return row


def _accept_next_dialog(page: Any) -> list[str]:
    """Accept the page's next confirmation; the list it returns receives its question."""
    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    return questions


def _wait_row(page: Any, rid: int, **attributes: str) -> None:
    selector = f'tr[data-resident="{rid}"]' + "".join(
        f'[data-{name}="{value}"]' for name, value in attributes.items())
    page.wait_for_selector(selector)


def test_manager_enrols_deletes_and_sets_pins_from_the_page(
    live_server: LiveServer, new_page: Any
) -> None:
    rid = _resident(live_server)
    matcher = live_server.services.faces.matcher
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.click('nav a[href="/console/admin/faces"]')
    page.wait_for_url("**/console/admin/faces")

    # Consent first: the photo upload is not even offered before it.
    row = _open(page, rid)
    assert row.locator('input[type="file"]').count() == 0
    row.locator('.consent-form input[name="note"]').fill("授权书 2026-017")
    row.locator('.consent-form button[type="submit"]').click()
    _wait_row(page, rid, consent="yes")
    page.wait_for_selector('text=已记录 王奶奶 的人脸授权')
    assert "授权书 2026-017" in page.locator(f'tr[data-resident="{rid}"] td.consent').inner_text()

    # A photo with two people is refused in Chinese and nothing is stored.
    two = _jpeg(np.hstack([_height(photo(*OBAMA), 400), _height(photo(*ALEX), 400)]))
    row = _open(page, rid)
    row.locator('.enrol-form input[type="file"]').set_input_files(
        [{"name": "两个人.jpg", "mimeType": "image/jpeg", "buffer": two}])
    row.locator('.enrol-form button[type="submit"]').click()
    error = row.locator(".enrol-form .error")
    error.wait_for(state="visible")
    assert error.inner_text() == "第 1 张照片里有 2 张人脸：照片里只能有要录入的这个人"
    assert rid not in matcher
    # "正在识别照片，请稍候…" is gone with the answer, from the toast and from the button.
    assert page.locator("#toast").is_hidden()
    assert row.locator('.enrol-form button[type="submit"]').inner_text() == "录入人脸"

    # A real photo of one person: enrolled, in the live matcher, counted on the page.
    row.locator('.enrol-form input[type="file"]').set_input_files(str(photo(*OBAMA)))
    row.locator('.enrol-form button[type="submit"]').click()
    _wait_row(page, rid, templates="1")
    page.wait_for_selector('text=已录入 王奶奶 的人脸，现共 1 条')
    assert rid in matcher
    screenshot(page, "admin_faces_enrolled")

    # The same photo again (the manager not sure it went in): said so, not stored twice.
    row = _open(page, rid)
    row.locator('.enrol-form input[type="file"]').set_input_files(str(photo(*OBAMA)))
    row.locator('.enrol-form button[type="submit"]').click()
    page.wait_for_selector('text=这些照片 王奶奶 已经录过，没有重复保存，现共 1 条')
    _wait_row(page, rid, templates="1")

    # The resident asks for deletion: the confirmation says how much goes, then it is gone.
    row = _open(page, rid)
    questions = _accept_next_dialog(page)
    row.locator('button:text-is("删除人脸数据")').click()
    _wait_row(page, rid, templates="0", consent="yes")
    assert questions == [
        f"删除住户成员 #{rid} 王奶奶 的全部人脸数据（1 条）？删除后无法恢复，授权保留。"]
    assert rid not in matcher

    # A PIN for when she would rather not use her face: a weak one is refused in Chinese.
    row = _open(page, rid)
    row.locator('.pin-form input[name="pin"]').fill("1111")
    row.locator('.pin-form button[type="submit"]').click()
    pin_error = row.locator(".pin-form .error")
    pin_error.wait_for(state="visible")
    assert pin_error.inner_text() == "密码太简单：不能全是同一个数字或顺序数字（如 1234）"
    row.locator('.pin-form input[name="pin"]').fill("482913")
    row.locator('.pin-form button[type="submit"]').click()
    _wait_row(page, rid, pin="yes")

    row = _open(page, rid)
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator('button:text-is("清除通行密码")').click()
    _wait_row(page, rid, pin="no")

    # Withdrawing consent takes the page back to "record consent first".
    row = _open(page, rid)
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator('button:text-is("撤回授权")').click()
    _wait_row(page, rid, consent="no")
    with admin_api(live_server) as api:
        resident = api.get(f"/api/v1/residents/{rid}").json()
        audit = api.get("/api/v1/audit", params={"limit": 50}).json()["items"]
        actions = [entry["action"] for entry in audit]
    assert resident["face_consent_at"] is None
    for action in ("face.consent", "face.enrol", "face.delete", "resident.pin_set",
                   "resident.pin_cleared", "face.consent_withdrawn"):
        assert action in actions


def test_dismissing_the_confirmation_deletes_nothing(
    live_server: LiveServer, new_page: Any
) -> None:
    rid = _resident(live_server)
    with admin_api(live_server) as api:
        api.put(f"/api/v1/residents/{rid}/consent", json={"note": "授权书 1"})
        with photo(*OBAMA).open("rb") as handle:
            created = api.post(f"/api/v1/residents/{rid}/faces",
                               files=[("image", ("p.jpg", handle.read(), "image/jpeg"))])
        assert created.status_code == 201, created.text
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/faces")
    row = _open(page, rid)
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator('button:text-is("撤回授权")').click()
    page.wait_for_timeout(500)  # a request, had one been sent, lands by now
    assert rid in live_server.services.faces.matcher
    _wait_row(page, rid, consent="yes", templates="1")


def _face_passages(server: LiveServer, rid: int, count: int) -> list[Path]:
    """Face passages of the resident at the pedestrian gate, each with its photo on disk."""
    services = server.services
    files = []
    with transaction(services.sessions) as session:
        for _ in range(count):
            at = datetime.now(UTC)
            path = services.snapshots.save("ped-1", at, b"\xff\xd8 a face \xff\xd9")
            session.add(Passage(at=at, gate_id="ped-1", direction="in", decision="allow",
                                reason="face_resident", credential="face", resident_id=rid,
                                snapshot_path=path))
            files.append(services.snapshots.path(path))
    return files


def test_manager_deletes_a_residents_gate_photos_on_request(
    live_server: LiveServer, new_page: Any
) -> None:
    rid = _resident(live_server)
    *photos, alarmed = _face_passages(live_server, rid, 3)
    with transaction(live_server.services.sessions) as session:
        # A guard has yet to acknowledge the alarm on her last passage (e.g. 尾随).
        last = session.scalars(select(Passage.id).order_by(Passage.id.desc())).first()
        session.add(Alarm(kind="tailgating.pedestrian", gate_id="ped-1", passage_id=last,
                          message="尾随"))
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/faces")
    row = _open(page, rid)
    questions = _accept_next_dialog(page)
    row.locator('button:text-is("删除人行门抓拍（3 张）")').click()
    page.wait_for_selector("text=已删除 王奶奶 的 2 张人行门抓拍；另有 1 张保安还要用"
                           "（待人工处理或报警未处理），处理完再点一次")
    assert questions == [f"删除住户成员 #{rid} 王奶奶 在人行门刷脸、输密码时被拍下的全部抓拍"
                         "（3 张）？删除后无法恢复，通行记录保留。"]
    assert not any(photo.exists() for photo in photos) and alarmed.exists()
    # The one the guard still needs is what is left.
    expect(page.locator(f'tr[data-resident="{rid}"] button.gate-snapshots')).to_have_text(
        "删除人行门抓拍（1 张）")


# Lines a cell's text is laid out on (a header "人脸数据" squeezed to one character a line had 4).
LINES = """(els) => els.filter((el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  const tops = new Set(Array.from(range.getClientRects(), (r) => Math.round(r.top)));
  return tops.size > 1;
}).map((el) => el.textContent.trim())"""


def test_the_manage_panel_fits_a_phone_and_squeezes_no_column_on_a_desktop(
    live_server: LiveServer, new_page: Any
) -> None:
    rid = _resident(live_server)
    with admin_api(live_server) as api:
        api.put(f"/api/v1/residents/{rid}/consent", json={"note": "授权书 2026-017，档案柜A"})
        api.put(f"/api/v1/residents/{rid}/pin", json={"pin": "482913"})
        hid = api.get(f"/api/v1/residents/{rid}").json()["household_id"]
        api.post("/api/v1/residents", json={"household_id": hid, "name": "欧阳" + "娜" * 40})
    page = new_page()
    enter_as(page, live_server, "admin", "admin")

    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto("/console/admin/faces")
    _open(page, rid)
    assert page.locator("#access-rows th, #access-rows td.short").evaluate_all(LINES) == []
    screenshot(page, "admin_faces_desktop_open")

    # A phone: every row a card, the open panel and its inputs within the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/console/admin/faces")
    row = _open(page, rid)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.evaluate("document.querySelector('.table-scroll').scrollWidth") <= page.evaluate(
        "document.querySelector('.table-scroll').clientWidth")
    for control in row.locator("summary, input, button").all():
        box = control.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (
            control.evaluate("(el) => el.outerHTML.slice(0, 80)"), box)
    # The facts keep their labels when the header row is no longer above them.
    label = row.locator("td.templates").evaluate("(el) => getComputedStyle(el, '::before').content")
    assert label == '"人脸数据："'
    screenshot(page, "admin_faces_phone_open")


def test_keyboard_only_the_manager_comes_back_to_the_row_after_saving(
    live_server: LiveServer, new_page: Any
) -> None:
    rid = _resident(live_server)
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/faces")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "SUMMARY":
            break
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "管理 王奶奶 的人脸和通行密码")
    page.keyboard.press("Enter")  # opens the panel
    page.keyboard.press("Tab")
    page.keyboard.type("授权书 2026-099")
    page.keyboard.press("Enter")
    _wait_row(page, rid, consent="yes")
    page.wait_for_selector("text=已记录 王奶奶 的人脸授权")
    # The page reloaded: the keyboard is on this row's 管理 again, not at the top of the page.
    focused = page.evaluate("document.activeElement.closest('tr')?.dataset.resident")
    assert focused == str(rid)
