"""Walk-in passes (步行访客), found by the property manager's walk: every pass needed a plate,
so a visitor on foot (a relative, a courier, a tutor) could not get a QR-only pass for the
pedestrian gate. A pass without a plate admits by its QR code at a pedestrian gate only; a
vehicle gate never opens for it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from api.console.error_texts import explain_detail
from models.events import AuditEntry
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_credentials import present

NEEDS_PLATE = "请填写车牌；没有车的访客请勾选「步行访客（无车牌）」"


def _household(client: Any, headers: dict[str, str]) -> int:
    created = client.post(
        "/api/v1/households", json={"building": "9栋", "unit": "101"}, headers=headers
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _body(
    household_id: int, start: timedelta = timedelta(minutes=-1), **fields: Any
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "host_household_id": household_id,
        "max_uses": 2,
        "valid_from": (now + start).isoformat(),
        "valid_to": (now + start + timedelta(hours=2)).isoformat(),
        **fields,
    }


@pytest.mark.parametrize(
    "fields", [{}, {"plate": None}, {"plate": None, "walk_in": True}, {"walk_in": True}]
)
def test_a_pass_without_a_plate_is_a_walk_in_pass(
    client: Any, admin_headers: dict[str, str], fields: dict[str, Any]
) -> None:
    hid = _household(client, admin_headers)
    created = client.post("/api/v1/passes", json=_body(hid, **fields), headers=admin_headers)
    assert created.status_code == 201, created.text
    assert (created.json()["plate"], created.json()["walk_in"]) == (None, True)
    pass_id = created.json()["id"]
    shown = client.get(f"/api/v1/passes/{pass_id}", headers=admin_headers).json()
    assert (shown["plate"], shown["walk_in"]) == (None, True)
    listed = client.get("/api/v1/passes", headers=admin_headers).json()
    assert [(p["id"], p["plate"], p["walk_in"]) for p in listed] == [(pass_id, None, True)]
    with client.app.state.services.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "pass.create")).one()
        assert (entry.details["plate"], entry.details["walk_in"]) == (None, True)


def test_a_plated_pass_says_it_is_not_walk_in(client: Any, admin_headers: dict[str, str]) -> None:
    hid = _household(client, admin_headers)
    created = client.post(
        "/api/v1/passes", json=_body(hid, plate="粤B88888", walk_in=False), headers=admin_headers
    )
    assert created.status_code == 201, created.text
    assert (created.json()["plate"], created.json()["walk_in"]) == ("粤B88888", False)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"plate": ""}, "is not a valid Chinese plate"),
        ({"plate": "粤B1234"}, "is not a valid Chinese plate"),
        ({"plate": None, "walk_in": False}, "a pass needs the visitor's plate unless walk_in"),
        ({"walk_in": False}, "a pass needs the visitor's plate unless walk_in"),
        ({"plate": "粤B88888", "walk_in": True}, "a walk-in pass has no plate"),
    ],
)
def test_a_malformed_plate_or_a_contradiction_is_422(
    client: Any, admin_headers: dict[str, str], fields: dict[str, Any], words: str
) -> None:
    hid = _household(client, admin_headers)
    refused = client.post("/api/v1/passes", json=_body(hid, **fields), headers=admin_headers)
    assert refused.status_code == 422 and words in refused.text, refused.text
    assert client.get("/api/v1/passes", headers=admin_headers).json() == []


def test_a_walk_in_qr_admits_at_the_pedestrian_gate_within_its_window_only(
    client: Any, admin_headers: dict[str, str]
) -> None:
    hid = _household(client, admin_headers)
    now_pass = client.post("/api/v1/passes", json=_body(hid), headers=admin_headers).json()
    later_pass = client.post(
        "/api/v1/passes", json=_body(hid, timedelta(hours=3)), headers=admin_headers
    ).json()

    def code(pass_id: int) -> str:
        return str(client.get(f"/api/v1/passes/{pass_id}/qr", headers=admin_headers).json()["code"])

    ok = present(client, {"kind": "qr", "code": code(now_pass["id"])}).json()
    assert (ok["decision"], ok["reason"]) == ("allow", "qr_pass")
    assert ok["barrier"] in ("opening", "open")
    passage = client.get(f"/api/v1/passages/{ok['passage_id']}", headers=admin_headers).json()
    assert (passage["credential"], passage["pass_id"], passage["plate"]) == (
        "qr",
        now_pass["id"],
        None,
    )
    early = present(client, {"kind": "qr", "code": code(later_pass["id"])}).json()
    assert (early["decision"], early["reason"]) == ("deny", "pass_not_yet_valid")
    # The use limit holds as for any pass: two entries, then no more.
    assert present(client, {"kind": "qr", "code": code(now_pass["id"])}).json()["reason"] == (
        "qr_pass"
    )
    used_up = present(client, {"kind": "qr", "code": code(now_pass["id"])}).json()
    assert (used_up["decision"], used_up["reason"]) == ("deny", "pass_used_up")


def test_a_vehicle_gate_never_opens_for_a_walk_in_pass(
    client: Any, admin_headers: dict[str, str]
) -> None:
    hid = _household(client, admin_headers)
    walk_in = client.post("/api/v1/passes", json=_body(hid), headers=admin_headers).json()
    code = client.get(f"/api/v1/passes/{walk_in['id']}/qr", headers=admin_headers).json()["code"]
    at_car_gate = present(client, {"kind": "qr", "code": code}, "main-in")
    assert at_car_gate.status_code == 422 and "not a pedestrian gate" in at_car_gate.text
    # A plate typed at the car gate (exact or one character off) finds no pass to match:
    # the plateless pass is neither a plate nor a near miss of one.
    for plate in ("粤B88888", "粤B8888"):
        typed = client.post(
            "/api/v1/gates/main-in/typed-plate",
            json={"plate": plate if len(plate) == 7 else plate + "9", "reason": "摄像头故障"},
            headers=admin_headers,
        )
        assert typed.status_code == 200, typed.text
        assert (typed.json()["decision"], typed.json()["reason"], typed.json()["pass_id"]) == (
            "review",
            "unknown_plate",
            None,
        )
    shown = client.get(f"/api/v1/passes/{walk_in['id']}", headers=admin_headers).json()
    assert shown["uses"] == 0


def test_the_console_form_makes_a_walk_in_pass_only_when_ticked(client: Any) -> None:
    services = client.app.state.services
    hid = _household(client, add_staff(services, "admin", "admin"))
    add_staff(services, "guard", "guard")
    csrf = {"X-CSRF-Token": cookie_login(client, "guard", "guard")}
    form = client.get("/console/admin/passes").text
    box = re.search(r'<input type="checkbox" name="walk_in"[^>]*>\s*步行访客（无车牌）', form)
    assert box is not None and 'data-disables="plate"' in box.group(0)
    plate = re.search(r'<input name="plate"[^>]*>', form)
    assert plate is not None and 'data-type="optional"' in plate.group(0)
    assert "required" not in plate.group(0)  # the API's refusal, worded below, says why

    # What admin.js sends: an empty plate is null, the box true or false.
    forgotten = client.post(
        "/api/v1/passes", json=_body(hid, plate=None, walk_in=False), headers=csrf
    )
    assert forgotten.status_code == 422
    assert explain_detail("zh", forgotten.json()["detail"]) == NEEDS_PLATE
    ticked = client.post("/api/v1/passes", json=_body(hid, plate=None, walk_in=True), headers=csrf)
    assert ticked.status_code == 201, ticked.text

    page = client.get("/console/admin/passes").text
    row = re.search(r'<tr data-pass="(\d+)".*?</tr>', page, re.S)
    assert row is not None and row.group(1) == str(ticked.json()["id"])
    plate_cell = re.search(r'<td class="plate"[^>]*>(.*?)</td>', row.group(0), re.S)
    assert plate_cell is not None and ">步行</span>" in plate_cell.group(1)
    assert f'href="/console/admin/passes/{ticked.json()["id"]}/qr"' in row.group(0)

    qr = client.get(f"/console/admin/passes/{ticked.json()['id']}/qr")
    assert qr.status_code == 200
    assert re.search(r'<td class="plate">步行</td>', qr.text)
    assert "<svg" in qr.text and "data-print" in qr.text
    assert "步行访客只能在人行门扫二维码进入" in qr.text


def test_the_personal_data_export_names_a_walk_in_pass(
    client: Any, admin_headers: dict[str, str]
) -> None:
    hid = _household(client, admin_headers)
    rid = client.post(
        "/api/v1/residents", json={"household_id": hid, "name": "李阿姨"}, headers=admin_headers
    ).json()["id"]
    client.post("/api/v1/passes", json=_body(hid, note="家教 王老师"), headers=admin_headers)
    doc = client.get(f"/api/v1/residents/{rid}/personal-data", headers=admin_headers).json()
    assert [(p["visitor_plate"], p["walk_in"], p["note"]) for p in doc["visitor_passes"]] == [
        (None, True, "家教 王老师")
    ]
