"""A resident's personal-data export (PIPL art. 45), on SQLite and PostgreSQL: what the
document holds, what it must never hold (the face embedding, the PIN's hash), its audit entry,
who may ask for it, and the console's button that downloads it."""

from __future__ import annotations

import base64
import functools
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from controllers.person_policy import FaceEvidence, decide_face
from models.db import transaction
from models.events import AuditEntry, Passage
from models.faces import FaceTemplate
from models.people import Resident
from tests.api.test_console import add_user, cookie_login
from tests.api.test_credentials import CAMERA
from tests.api.test_faces import OBAMA, enrol, photo

PIN = "730519"


def setup_resident(client: Any, headers: dict[str, str]) -> dict[str, int]:
    """王芳 of 3栋 1201 with a car she drives, consent and one face, and a PIN; a neighbour
    household with a car and a resident of its own, to show what stays out."""

    def post(path: str, body: dict[str, Any]) -> int:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    hid = post("/api/v1/households", {"building": "3栋", "unit": "1201", "note": "东侧"})
    rid = post("/api/v1/residents", {"household_id": hid, "name": "王芳", "phone": "138 0000 1234"})
    spouse = post("/api/v1/residents", {"household_id": hid, "name": "李强"})
    vid = post(
        "/api/v1/vehicles",
        {"household_id": hid, "plate": "闽AD12345", "resident_id": rid, "plate_color": "green"},
    )
    other_hid = post("/api/v1/households", {"building": "5栋", "unit": "302"})
    other_rid = post("/api/v1/residents", {"household_id": other_hid, "name": "赵六"})
    post("/api/v1/vehicles", {"household_id": other_hid, "plate": "闽B54321"})
    post(
        "/api/v1/passes",
        {
            "plate": "粤B88888",
            "host_household_id": hid,
            "valid_from": datetime.now(UTC).isoformat(),
            "valid_to": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "note": "表哥来访",
        },
    )
    post(
        "/api/v1/passes",
        {
            "plate": None,
            "walk_in": True,
            "host_household_id": hid,
            "valid_from": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
            "valid_to": (datetime.now(UTC) + timedelta(days=60)).isoformat(),
            "weekdays": ["mon", "wed", "fri"],
            "hours_from": "08:00",
            "hours_to": "12:00",
            "note": "保洁 张阿姨",
        },
    )
    consent = client.put(
        f"/api/v1/residents/{rid}/consent", json={"note": "授权书 2026-031"}, headers=headers
    )
    assert consent.status_code == 200, consent.text
    assert enrol(client, headers, rid, photo(*OBAMA).read_bytes()).status_code == 201
    pin = client.put(f"/api/v1/residents/{rid}/pin", json={"pin": PIN}, headers=headers)
    assert pin.status_code == 204, pin.text
    return {
        "household": hid,
        "resident": rid,
        "spouse": spouse,
        "vehicle": vid,
        "other_household": other_hid,
        "other_resident": other_rid,
    }


def typed_plate(client: Any, headers: dict[str, str], gate: str, plate: str) -> int:
    response = client.post(
        f"/api/v1/gates/{gate}/typed-plate",
        json={"plate": plate, "reason": "摄像机没认出"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return int(response.json()["passage_id"])


def face_passage(client: Any, resident_id: int, household_id: int) -> int:
    """A face passage recorded as the face gate records one (services/face_gate.py): the
    face decision, its snapshot saved, then the runtime's handle_decision."""
    services = client.app.state.services
    at = datetime.now(UTC)
    decision = decide_face(
        FaceEvidence(faces_seen=1, resident_id=resident_id, live=True), household_id
    )
    path = services.snapshots.save("ped-1", at, b"\xff\xd8 a face snapshot \xff\xd9")
    result = client.portal.call(
        functools.partial(
            services.runtime.handle_decision, "ped-1", decision, at=at, snapshot_path=path
        )
    )
    return int(result.passage_id)


def export(client: Any, headers: dict[str, str], rid: int, query: str = "") -> Any:
    return client.get(f"/api/v1/residents/{rid}/personal-data{query}", headers=headers)


def test_the_document_holds_what_is_stored_about_the_resident(
    client: Any, admin_headers: dict[str, str]
) -> None:
    ids = setup_resident(client, admin_headers)
    rid = ids["resident"]
    by_plate = typed_plate(client, admin_headers, "main-in", "闽AD12345")
    by_pin = client.post(
        "/api/v1/gates/ped-1/credentials",
        json={"kind": "pin", "resident_id": rid, "pin": PIN},
        headers=CAMERA,
    )
    assert by_pin.status_code == 200, by_pin.text
    by_face = face_passage(client, rid, ids["household"])
    # Not hers: the neighbour's car, the spouse's face, a visitor on the household's pass.
    typed_plate(client, admin_headers, "main-in", "闽B54321")
    spouse_face = face_passage(client, ids["spouse"], ids["household"])
    visitor = typed_plate(client, admin_headers, "main-in", "粤B88888")

    response = export(client, admin_headers, rid)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    day = datetime.now(client.app.state.services.settings.community.zone_info()).date()
    assert response.headers["content-disposition"] == (
        f'attachment; filename="resident-{rid}-personal-data-{day.isoformat()}.json"'
    )
    # Chinese as Chinese (ensure_ascii off), not \u escapes.
    assert "王芳".encode() in response.content and b"\\u" not in response.content
    doc = response.json()

    assert doc["resident"] == {
        "id": rid,
        "name": "王芳",
        "phone": "138 0000 1234",
        "household_id": ids["household"],
        "registered_at": doc["resident"]["registered_at"],
    }
    assert doc["resident"]["registered_at"].endswith("+08:00")  # the community's clock
    assert (doc["household"]["building"], doc["household"]["unit"], doc["household"]["note"]) == (
        "3栋",
        "1201",
        "东侧",
    )
    assert [
        (v["plate"], v["plate_color"], v["driver_is_this_resident"]) for v in doc["vehicles"]
    ] == [("闽AD12345", "green", True)]

    face = doc["face"]
    assert face["consent_given"] and face["consent_recorded_by"] == "admin"
    assert face["consent_note"] == "授权书 2026-031"
    assert face["template_count"] == 1 and face["photos_stored"] is False
    assert set(face["templates"][0]) == {"id", "enrolled_at", "enrolled_by"}
    assert face["templates"][0]["enrolled_by"] == "admin"
    assert doc["pin"]["set"] and doc["pin"]["set_by"] == "admin" and doc["pin"]["set_at"]

    assert [
        (p["visitor_plate"], p["walk_in"], p["note"], p["weekdays"], p["hours_from"], p["hours_to"])
        for p in doc["visitor_passes"]
    ] == [
        ("粤B88888", False, "表哥来访", None, None, None),
        (None, True, "保洁 张阿姨", ["mon", "wed", "fri"], "08:00", "12:00"),
    ]
    assert [e["plate"] for e in doc["inside_now"]] == ["闽AD12345"]
    assert [e["action"] for e in doc["staff_actions"]] == [
        "resident.create",
        "face.consent",
        "face.enrol",
        "resident.pin_set",
    ]

    passages = doc["passages"]
    assert passages["total"] == 3 and not passages["more"]
    found = {p["id"]: p for p in passages["items"]}
    assert set(found) == {by_plate, by_pin.json()["passage_id"], by_face}
    assert spouse_face not in found and visitor not in found
    car = found[by_plate]
    assert (car["plate_read"], car["gate_name"], car["decision"], car["recorded_for"]) == (
        "闽AD12345",
        "东门入口",
        "allow",
        "vehicle",
    )
    assert car["snapshot"] == {
        "taken": False,
        "still_stored": False,
        "captured_at": None,
        "deleted_by": None,
        "deleted_on_request": False,
    }
    face_row = found[by_face]
    assert (face_row["credential"], face_row["recorded_for"]) == ("face", "resident")
    assert face_row["snapshot"]["taken"] and face_row["snapshot"]["still_stored"]
    assert face_row["snapshot"]["captured_at"] == face_row["at"]
    assert found[by_pin.json()["passage_id"]]["credential"] == "pin"
    assert doc["retention"]["snapshot_days"] == 30 and doc["retention"]["passage_days"] == 365
    # Nobody else's name.
    for name in ("李强", "赵六"):
        assert name not in response.text


def test_no_embedding_and_no_pin_hash_leak(client: Any, admin_headers: dict[str, str]) -> None:
    rid = setup_resident(client, admin_headers)["resident"]
    with client.app.state.services.sessions() as session:
        blob = session.scalars(
            select(FaceTemplate.embedding).where(FaceTemplate.resident_id == rid)
        ).one()
        resident = session.get(Resident, rid)
        assert resident is not None
        pin_hash = resident.pin_hash
    assert pin_hash
    response = export(client, admin_headers, rid)
    assert response.status_code == 200, response.text
    text, raw = response.text, response.content

    values = np.frombuffer(blob, dtype="<f4")
    assert values.size == 128
    assert blob not in raw and blob.hex() not in text
    assert base64.b64encode(blob).decode()[:40] not in text
    for value in values[:16]:
        # However a float would be written: repr, rounded to 4-6 places.
        for written in (repr(float(value)), f"{value:.6f}", f"{value:.4f}"):
            assert written not in text, written
    # No list of numbers anywhere that could be a template.
    assert not re.search(r"\[\s*-?\d+\.\d+\s*,\s*-?\d+\.\d+", text)

    assert pin_hash not in text and "argon2" not in text and PIN not in text


def test_an_export_is_audited_by_id_and_household_not_name(
    client: Any, admin_headers: dict[str, str]
) -> None:
    ids = setup_resident(client, admin_headers)
    rid = ids["resident"]
    assert export(client, admin_headers, rid).status_code == 200
    with client.app.state.services.sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    assert (entry.username, entry.action, entry.target) == (
        "admin",
        "resident.data_export",
        f"resident:{rid}",
    )
    assert entry.details == {"household_id": ids["household"], "passages": 0}
    logged = json.dumps([entry.target, entry.reason, entry.details], ensure_ascii=False)
    assert "王芳" not in logged and "138" not in logged
    # The next export lists this one among the staff actions on her record.
    again = export(client, admin_headers, rid).json()
    assert again["staff_actions"][-1]["action"] == "resident.data_export"


def test_a_head_of_the_export_is_answered_as_its_get_and_logs_no_export(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """A HEAD gives out no document (api/head_requests.py drops the body), so the audit log
    does not say the resident's data was exported."""
    rid = setup_resident(client, admin_headers)["resident"]
    path = f"/api/v1/residents/{rid}/personal-data"
    head = client.head(path, headers=admin_headers)
    assert head.status_code == 200 and head.content == b""
    assert "attachment" in head.headers["content-disposition"]

    def exports() -> int:
        with client.app.state.services.sessions() as session:
            return len(session.scalars(
                select(AuditEntry).where(AuditEntry.action == "resident.data_export")).all())

    assert exports() == 0
    assert export(client, admin_headers, rid).status_code == 200
    assert exports() == 1


def test_roles_unknown_resident_and_bad_ids(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    rid = setup_resident(client, admin_headers)["resident"]
    assert export(client, guard_headers, rid).status_code == 403
    assert client.get(f"/api/v1/residents/{rid}/personal-data").status_code == 401
    missing = export(client, admin_headers, 999_999)
    assert missing.status_code == 404 and "999999" in missing.json()["detail"]
    for bad in ("0", "-1", "x", str(2**40)):
        assert (
            client.get(f"/api/v1/residents/{bad}/personal-data", headers=admin_headers).status_code
            == 422
        )
    for query in (
        "?passage_limit=0",
        "?passage_limit=10001",
        "?passage_offset=-1",
        "?passage_limit=abc",
    ):
        assert export(client, admin_headers, rid, query).status_code == 422, query
    with client.app.state.services.sessions() as session:
        exports = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "resident.data_export")
        ).all()
    assert exports == []  # refused requests export nothing and log no export


def test_many_passages_come_in_pages_and_others_are_not_hers(
    client: Any, admin_headers: dict[str, str]
) -> None:
    ids = setup_resident(client, admin_headers)
    rid, hid, vid = ids["resident"], ids["household"], ids["vehicle"]
    now = datetime.now(UTC)
    with transaction(client.app.state.services.sessions) as session:
        for ms in range(5):
            session.add(
                Passage(
                    at=now - timedelta(milliseconds=ms),
                    gate_id="main-in",
                    direction="in",
                    plate="闽AD12345",
                    matched_plate="闽AD12345",
                    decision="allow",
                    reason="resident",
                    vehicle_id=vid,
                    household_id=hid,
                    resident_id=rid,
                    snapshot_path="2020/01/01/gone.jpg",
                )
            )
        # Before she was registered: an earlier resident's, whose ids SQLite may have reused.
        session.add(
            Passage(
                at=now - timedelta(days=1),
                gate_id="main-in",
                direction="in",
                plate="闽AD12345",
                decision="allow",
                reason="resident",
                vehicle_id=vid,
                household_id=hid,
                resident_id=rid,
            )
        )
        # Past retention: anonymised (no plate, no ids) and no one's any more.
        session.add(
            Passage(
                at=now - timedelta(days=400),
                gate_id="main-in",
                direction="in",
                decision="allow",
                reason="resident",
                anonymised_at=now,
            )
        )
    first = export(client, admin_headers, rid, "?passage_limit=2").json()["passages"]
    assert (first["total"], len(first["items"]), first["more"], first["next_offset"]) == (
        5,
        2,
        True,
        2,
    )
    # A snapshot the retention (or low space) deleted: said so, not an error.
    assert first["items"][0]["snapshot"]["taken"]
    assert not first["items"][0]["snapshot"]["still_stored"]
    last = export(client, admin_headers, rid, "?passage_limit=2&passage_offset=4")
    assert "personal-data-" in last.headers["content-disposition"]
    assert last.headers["content-disposition"].endswith('-from-4.json"')
    page = last.json()["passages"]
    assert (len(page["items"]), page["more"], page["next_offset"]) == (1, False, None)
    seen = [p["id"] for p in first["items"]] + [p["id"] for p in page["items"]]
    assert len(set(seen)) == 3


def test_the_console_button_downloads_the_file(client: Any, admin_headers: dict[str, str]) -> None:
    rid = setup_resident(client, admin_headers)["resident"]
    add_user(client, "manager", "admin")
    cookie_login(client, "manager", "admin")
    page = client.get("/console/admin/households")
    assert page.status_code == 200
    link = re.search(
        rf'<a class="btn small export-personal-data" href="(/api/v1/residents/{rid}/'
        r'personal-data)" download\s+aria-label="([^"]+)">导出个人信息</a>',
        page.text,
    )
    assert link, "no 导出个人信息 button on the resident's row"
    assert "王芳" in link.group(2)
    # What the browser does on a click: a GET with the session cookie, no bearer token.
    download = client.get(link.group(1))
    assert download.status_code == 200, download.text
    assert download.headers["content-disposition"].startswith(
        f'attachment; filename="resident-{rid}-personal-data-'
    )
    assert download.json()["resident"]["name"] == "王芳"
    with client.app.state.services.sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None and (entry.username, entry.action) == (
        "manager",
        "resident.data_export",
    )
    # A guard's console session gets no file.
    add_user(client, "guard2", "guard")
    client.cookies.clear()  # the manager's session, renewed by the server, goes too
    cookie_login(client, "guard2", "guard")
    assert client.get(link.group(1)).status_code == 403
