"""The face and PIN page: a property manager records consent, enrols, deletes and sets PINs
without the English /docs page, and every refusal is worded in Chinese."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from api.console.error_texts import explain_message
from models.events import AuditEntry
from tests.api.test_console import add_staff, add_user, cookie_login
from tests.api.test_credentials import present
from tests.api.test_faces import ALEX, OBAMA, _height, _jpeg, enrol, photo


def _resident(client: Any, headers: dict[str, str], building: str, unit: str, name: str) -> int:
    hid = client.post("/api/v1/households", json={"building": building, "unit": unit},
                      headers=headers).json()["id"]
    return int(client.post("/api/v1/residents", json={"household_id": hid, "name": name},
                           headers=headers).json()["id"])


def _rows(html: str) -> dict[int, dict[str, str]]:
    """Each resident row's data attributes, by resident id."""
    rows = {}
    for match in re.finditer(
        r'<tr data-resident="(\d+)" data-consent="(\w+)" data-templates="(\d+)" '
        r'data-pin="(\w+)">', html
    ):
        rid, consent, templates, pin = match.groups()
        rows[int(rid)] = {"consent": consent, "templates": templates, "pin": pin}
    return rows


def test_the_page_shows_consent_faces_and_pin_per_resident(
    client: Any, admin_headers: dict[str, str]
) -> None:
    grandma = _resident(client, admin_headers, "3栋", "1201", "王奶奶")
    neighbour = _resident(client, admin_headers, "5栋", "302", "李先生")
    client.put(f"/api/v1/residents/{grandma}/consent", json={"note": "授权书 2026-017"},
               headers=admin_headers)
    assert enrol(client, admin_headers, grandma, photo(*OBAMA).read_bytes()).status_code == 201
    client.put(f"/api/v1/residents/{neighbour}/pin", json={"pin": "482913"},
               headers=admin_headers)

    add_user(client, "manager", "admin")
    cookie_login(client, "manager", "admin")
    page = client.get("/console/admin/faces")
    assert page.status_code == 200
    rows = _rows(page.text)
    assert rows[grandma] == {"consent": "yes", "templates": "1", "pin": "no"}
    assert rows[neighbour] == {"consent": "no", "templates": "0", "pin": "yes"}
    # Where the signed form is kept, as the manager wrote it when recording consent.
    assert "授权书 2026-017" in page.text and "人脸与密码" in page.text
    # A resident with consent gets the photo upload; one without gets the consent form.
    grandma_row = page.text.split(f'data-resident="{grandma}"')[1].split("</tr>")[0]
    neighbour_row = page.text.split(f'data-resident="{neighbour}"')[1].split("</tr>")[0]
    assert 'type="file"' in grandma_row and "consent-form" not in grandma_row
    assert "consent-form" in neighbour_row and 'type="file"' not in neighbour_row


@pytest.fixture(scope="module")
def two_residents(shared_client: Any) -> Any:
    """One app per database with 王奶奶 (3栋 1201), 李先生 (5栋 302) and the manager, for the
    searches: they only read, so they share it (tests/api/conftest.py ``shared_client``)
    instead of building it each (0.15 s of CPU for one page)."""
    headers = add_staff(shared_client.app.state.services, "admin", "admin")
    _resident(shared_client, headers, "3栋", "1201", "王奶奶")
    _resident(shared_client, headers, "5栋", "302", "李先生")
    add_user(shared_client, "manager", "admin")
    return shared_client


@pytest.mark.parametrize(("query", "found"), [
    ("王", {"王奶奶"}),
    ("3栋 1201", {"王奶奶"}),
    ("3栋1201", {"王奶奶"}),  # typed as one word, as it is said
    ("5栋", {"李先生"}),
    ("%", set()),  # a LIKE wildcard is a character to look for, not "everything"
    ("", {"王奶奶", "李先生"}),
])
def test_search_by_name_building_or_unit(
    two_residents: Any, fresh_shared_client: Any, query: str, found: set[str]
) -> None:
    client = fresh_shared_client
    cookie_login(client, "manager", "admin")
    page = client.get("/console/admin/faces", params={"q": query})
    assert page.status_code == 200
    shown = {name for name in ("王奶奶", "李先生") if f">{name}</td>" in page.text}
    assert shown == found


def test_guards_are_refused_the_face_page(client: Any) -> None:
    add_user(client, "booth", "guard")
    cookie_login(client, "booth", "guard")
    page = client.get("/console/admin/faces")
    assert page.status_code == 403 and "人脸与密码" not in page.text


def test_clearing_a_pin_stops_it_opening_the_gate_and_is_audited(
    client: Any, admin_headers: dict[str, str]
) -> None:
    rid = _resident(client, admin_headers, "2栋", "303", "张爷爷")
    client.put(f"/api/v1/residents/{rid}/pin", json={"pin": "482913"}, headers=admin_headers)
    body = {"kind": "pin", "resident_id": rid, "pin": "482913"}
    assert present(client, body).json()["decision"] == "allow"

    cleared = client.delete(f"/api/v1/residents/{rid}/pin", headers=admin_headers)
    assert cleared.status_code == 204
    assert present(client, body).json()["reason"] == "pin_wrong"
    with client.app.state.services.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "resident.pin_cleared")).one()
    assert entry.target == f"resident:{rid}" and entry.username == "admin"
    assert client.delete("/api/v1/residents/9999/pin", headers=admin_headers).status_code == 404
    # Cleared again (a second admin, a stale page): nothing to clear, nothing audited.
    again = client.delete(f"/api/v1/residents/{rid}/pin", headers=admin_headers)
    assert again.status_code == 204
    with client.app.state.services.sessions() as session:
        assert len(session.scalars(select(AuditEntry).where(
            AuditEntry.action == "resident.pin_cleared")).all()) == 1


def test_guards_cannot_clear_a_pin(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    rid = _resident(client, admin_headers, "2栋", "303", "张爷爷")
    client.put(f"/api/v1/residents/{rid}/pin", json={"pin": "482913"}, headers=admin_headers)
    assert client.delete(f"/api/v1/residents/{rid}/pin",
                         headers=guard_headers).status_code == 403


def test_enrolment_refusals_read_in_chinese(client: Any, admin_headers: dict[str, str]) -> None:
    """The messages the real enrolment path answers, as the page shows them."""
    rid = _resident(client, admin_headers, "7栋", "601", "王奶奶")
    no_consent = enrol(client, admin_headers, rid, photo(*OBAMA).read_bytes()).json()["detail"]
    client.put(f"/api/v1/residents/{rid}/consent", headers=admin_headers)
    good = photo(*OBAMA).read_bytes()
    blank = _jpeg(np.full((400, 400, 3), 128, np.uint8))
    two = _jpeg(np.hstack([_height(photo(*OBAMA), 400), _height(photo(*ALEX), 400)]))
    details = {
        "consent": no_consent,
        "no_face": enrol(client, admin_headers, rid, good, blank).json()["detail"],
        "two": enrol(client, admin_headers, rid, two).json()["detail"],
        "not_image": enrol(client, admin_headers, rid, b"not an image").json()["detail"],
        "weak_pin": client.put(f"/api/v1/residents/{rid}/pin", json={"pin": "1234"},
                               headers=admin_headers).json()["detail"],
    }
    shown = {key: explain_message("zh", detail) for key, detail in details.items()}
    assert shown == {
        "consent": f"住户成员 #{rid} 还没有记录人脸授权：请先「记录授权」",
        "no_face": "第 2 张照片里没有找到人脸：请用光线好、正对镜头的单人照片",
        "two": "第 1 张照片里有 2 张人脸：照片里只能有要录入的这个人",
        "not_image": "第 1 张不是 JPEG 或 PNG 照片",
        "weak_pin": "密码太简单：不能全是同一个数字或顺序数字（如 1234）",
    }


@pytest.mark.parametrize(("message", "expected"), [
    ("body exceeds the limit of 10000000 bytes",
     "照片太大：一次上传合计不能超过 10000000 字节，请少选几张或用小一点的照片"),
    ("body of 20000000 bytes exceeds the limit of 10000000",
     "照片太大：一次上传合计不能超过 10000000 字节，请少选几张或用小一点的照片"),
    ("photo 1: the face is too small (38 px, need at least 80 px): move closer or use a "
     "larger photo", "第 1 张照片的人脸太小（38 像素，至少要 80）：靠近些拍或用大一点的照片"),
    ("photo 3: image has 48.0 MP, more than the limit of 40 MP",
     "第 3 张照片太大（48.0 百万像素，上限 40）"),
    ("photo 1: the jpeg image is corrupt and could not be decoded", "第 1 张照片已损坏，打不开"),
])
def test_upload_limits_read_in_chinese(message: str, expected: str) -> None:
    assert explain_message("zh", message) == expected


@pytest.mark.parametrize(("message", "expected"), [
    ("the fire-alarm input is still active; it cannot be cleared",
     "消防控制柜的火警信号还在，不能解除：先让消防柜复位"),
    ("occupied must be between 0 and 40 for zone A, got 41",
     "停放数要在 0 到 40 之间（区域 A），填的是 41"),
])
def test_site_refusals_read_in_chinese(message: str, expected: str) -> None:
    assert explain_message("zh", message) == expected


def test_the_zone_count_refusal_the_api_gives_reads_in_chinese(
    client: Any, admin_headers: dict[str, str]
) -> None:
    refused = client.put("/api/v1/zones/A/occupancy", headers=admin_headers,
                         json={"occupied": 41, "reason": "walked the lot"})
    assert refused.status_code == 422
    shown = explain_message("zh", refused.json()["detail"])
    assert shown.startswith("停放数要在 0 到 ") and "填的是 41" in shown


def test_the_site_page_lists_zones_and_is_for_admins_only(client: Any) -> None:
    add_user(client, "booth", "guard")
    cookie_login(client, "booth", "guard")
    assert client.get("/console/admin/site").status_code == 403
    client.cookies.clear()
    add_user(client, "manager", "admin")
    cookie_login(client, "manager", "admin")
    page = client.get("/console/admin/site")
    assert page.status_code == 200
    assert re.search(r'<tr data-zone="A" data-occupied="0"[ >]', page.text)
    assert 'data-fire-alarm="no"' in page.text and 'id="fire-drill"' in page.text


def test_a_site_page_rendered_during_a_fire_alarm_offers_the_clearing(client: Any) -> None:
    """Both forms are on the page for site.js to switch between; the one that fits is shown,
    in either language, with what the page says about its live stream."""
    add_user(client, "manager", "admin")
    cookie_login(client, "manager", "admin")
    client.portal.call(client.app.state.services.safety.trigger_fire_alarm, "drill")
    page = client.get("/console/admin/site").text
    assert 'data-fire-alarm="yes"' in page
    forms = dict(re.findall(r'<form [^>]*id="(fire-\w+)"([^>]*)>', page))
    assert " hidden " not in forms["fire-clear"] and " hidden " in forms["fire-drill"]
    assert "正在连接实时更新…" in page and "&#34;site.live_on&#34;" in page
    client.cookies.set("parkgate_lang", "en")
    english = client.get("/console/admin/site").text
    assert "Connecting to live updates…" in english
    assert "Live: the fire alarm, gate states and counts update without a reload" in english
    assert "&#34;held_open&#34;: &#34;Held open&#34;" in english


def test_without_face_recognition_the_page_still_sets_pins(
    client: Any, admin_headers: dict[str, str]
) -> None:
    rid = _resident(client, admin_headers, "3栋", "1201", "王奶奶")
    client.app.state.services.faces = None
    add_user(client, "manager", "admin")
    cookie_login(client, "manager", "admin")
    page = client.get("/console/admin/faces")
    assert page.status_code == 200
    # Said as a warning (not the green of a success), and only the PIN form is offered.
    assert ('<p class="notice warn" role="status">本系统未启用人脸识别：这里只能设置通行密码。'
            in page.text)
    row = page.text.split(f'data-resident="{rid}"')[1].split("</tr>")[0]
    assert "pin-form" in row
    assert "consent-form" not in row and "enrol-form" not in row and 'type="file"' not in row


# The ids a configuration may give its zones: the page's URL for each must reach the zone.
ODD_ZONES = ["B1/B2", "地下 1层", "A#1", "50%", "a?b"]


def test_a_zone_id_with_a_slash_or_a_space_is_corrected_from_the_page(
    app_factory: Any,
) -> None:
    community = {"name": "t", "zones": [{"id": z, "capacity": 10} for z in ODD_ZONES],
                 "gates": [{"id": "in", "name": "东门入口", "kind": "vehicle",
                            "direction": "in", "zone": ODD_ZONES[0]}]}
    client = app_factory(community=community)
    add_user(client, "manager", "admin")
    cookie_login(client, "manager", "admin")
    page = client.get("/console/admin/site").text
    headers = {"Authorization": "Bearer " + add_user(client, "admin", "admin")}
    urls = dict(re.findall(r'<tr data-zone="([^"]+)".*?data-api="([^"]+)"', page, re.S))
    assert set(urls) == {z.replace("&", "&amp;") for z in ODD_ZONES}
    for zone, url in urls.items():
        fixed = client.put(url, headers=headers, json={"occupied": 3, "reason": "人工盘点"})
        assert fixed.status_code == 200, (zone, url, fixed.text)
        assert fixed.json()["id"] == zone
    # Out of range for a zone whose id has a space: still worded in Chinese, id whole.
    refused = client.put(urls["地下 1层"], headers=headers,
                         json={"occupied": 11, "reason": "人工盘点"})
    assert explain_message("zh", refused.json()["detail"]) == (
        "停放数要在 0 到 10 之间（区域 地下 1层），填的是 11")
    gone = client.put("/api/v1/zones/C/occupancy", headers=headers,
                      json={"occupied": 1, "reason": "人工盘点"})
    assert gone.status_code == 404
    assert explain_message("zh", gone.json()["detail"]) == "区域 C 不存在（配置已改？请刷新页面）"
