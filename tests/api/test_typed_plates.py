"""人工录入车牌: a plate the guard types goes the way a camera read goes.

Before, a dark camera left the guard the gate strip's 开闸 only: the barrier opened, but no
passage was recorded, no car counted and nothing checked (a blocked plate, an expired pass,
anti-passback). A typed plate is decided, recorded, counted and audited like a read; during
a database outage it is journalled like one (the database really goes away:
tests/db_outage.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from models.events import AuditEntry, Passage
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_database_outage import FAST, wait_for
from tests.api.test_vehicle_entry import free_in_zone, register_resident_car
from tests.db_outage import DatabaseOutage

RESIDENT = "闽A12345"
BLOCKED = "沪K60613"
STRANGER = "粤B67890"
VISITOR = "苏E88888"
REASON = "摄像头故障"
OPENED = ("opening", "open")


@pytest.fixture
def admin_headers(client: Any) -> dict[str, str]:
    return add_staff(client.app.state.services, "admin", "admin")


@pytest.fixture
def guard_headers(client: Any) -> dict[str, str]:
    return add_staff(client.app.state.services, "guard", "guard")


def typed(client: Any, headers: dict[str, str], gate: str, plate: Any,
          reason: Any = REASON) -> Any:
    return client.post(f"/api/v1/gates/{gate}/typed-plate",
                       json={"plate": plate, "reason": reason}, headers=headers)


def passage(client: Any, passage_id: int) -> Passage:
    with client.app.state.services.sessions() as session:
        row = session.get(Passage, passage_id)
        assert row is not None
        session.expunge(row)
    return row


def typed_audits(client: Any) -> list[AuditEntry]:
    with client.app.state.services.sessions() as session:
        rows = list(session.scalars(select(AuditEntry)
                                    .where(AuditEntry.action == "gate.typed_plate")))
        session.expunge_all()
    return rows


def test_a_residents_typed_plate_opens_is_recorded_as_typed_counted_and_audited(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    household_id = register_resident_car(client, admin_headers, RESIDENT)
    free_before = free_in_zone(client, "A")

    # As a guard types it: lower case, a dot, full-width letters; folded to the plate.
    response = typed(client, guard_headers, "main-in", "闽ａ·12345")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["plate"], body["decision"], body["reason"]) == (RESIDENT, "allow", "resident")
    assert body["barrier"] in OPENED
    assert str(client.app.state.services.barriers["main-in"].state) in OPENED
    # Whose car it was taken for, so a typo that matches another car is seen at once.
    assert (body["household_id"], body["household"]) == (household_id, "3栋 1201")
    assert body["matched_plate"] is None and "typed" in body["flags"]
    assert free_in_zone(client, "A") == free_before - 1

    row = passage(client, body["passage_id"])
    assert (row.plate, row.decision, row.snapshot_path) == (RESIDENT, "allow", None)
    assert "typed" in row.flags
    assert row.details == {"typed_by": "guard", "typed_reason": REASON}
    listed = client.get("/api/v1/passages", params={"plate": RESIDENT},
                        headers=guard_headers).json()["items"]
    assert [(p["id"], p["has_snapshot"], "typed" in p["flags"]) for p in listed] == [
        (body["passage_id"], False, True)]

    (audit,) = typed_audits(client)
    assert (audit.id, audit.username, audit.gate_id, audit.passage_id, audit.reason) == (
        body["audit_id"], "guard", "main-in", body["passage_id"], REASON)
    assert audit.details == {"plate": RESIDENT, "decision": "allow",
                             "passage_reason": "resident", "outcome": body["barrier"],
                             "household_id": household_id}

    # Sent again (a double click, a retry, a colleague at the other booth): the same passage,
    # nothing opened, counted or audited twice, and the toast says so.
    again = typed(client, guard_headers, "main-in", RESIDENT).json()
    assert (again["passage_id"], again["repeat"], again["audit_id"]) == (
        body["passage_id"], True, None)
    assert (again["household"], again["decision"]) == ("3栋 1201", "allow")
    assert free_in_zone(client, "A") == free_before - 1
    assert len(typed_audits(client)) == 1
    assert client.get("/api/v1/passages", headers=guard_headers).json()["total"] == 1


def test_a_typed_car_counts_as_inside(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    register_resident_car(client, admin_headers, RESIDENT)
    monkeypatch.setattr("controllers.runtime.TYPED_REPEAT_WINDOW", timedelta(0))
    typed(client, guard_headers, "main-in", RESIDENT)
    # Anti-passback (soft) flags the same plate typed again once it is no repeat.
    again = typed(client, guard_headers, "main-in", RESIDENT).json()
    assert again["decision"] == "allow" and "anti_passback" in again["flags"]
    assert not again["repeat"]


def test_a_typed_blocked_plate_is_refused_with_an_alarm_and_the_barrier_stays_down(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    listed = client.post("/api/v1/lists", headers=admin_headers,
                         json={"plate": BLOCKED, "kind": "block", "reason": "欠费"})
    assert listed.status_code == 201, listed.text

    body = typed(client, guard_headers, "main-in", BLOCKED).json()

    assert (body["decision"], body["reason"], body["barrier"]) == ("deny", "blocked", "closed")
    assert str(client.app.state.services.barriers["main-in"].state) == "closed"
    alarms = client.get("/api/v1/alarms", headers=guard_headers).json()
    assert [(a["kind"], a["passage_id"]) for a in alarms["items"]] == [
        ("blocked_plate", body["passage_id"])]
    (audit,) = typed_audits(client)
    assert audit.details["decision"] == "deny" and audit.details["outcome"] == "closed"


def test_an_unknown_typed_plate_waits_in_the_review_queue(
    client: Any, guard_headers: dict[str, str]
) -> None:
    body = typed(client, guard_headers, "main-in", STRANGER).json()

    assert (body["decision"], body["reason"], body["barrier"]) == (
        "review", "unknown_plate", "closed")
    queue = client.get("/api/v1/review", headers=guard_headers).json()
    assert [(p["id"], p["plate"], "typed" in p["flags"]) for p in queue] == [
        (body["passage_id"], STRANGER, True)]


def test_a_typed_visitor_plate_uses_its_pass(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    household_id = register_resident_car(client, admin_headers, RESIDENT)
    now = datetime.now(UTC)
    created = client.post("/api/v1/passes", headers=admin_headers, json={
        "plate": VISITOR, "host_household_id": household_id, "max_uses": 1,
        "valid_from": (now - timedelta(minutes=1)).isoformat(),
        "valid_to": (now + timedelta(hours=2)).isoformat()})
    assert created.status_code == 201, created.text

    body = typed(client, guard_headers, "main-in", VISITOR).json()
    assert (body["decision"], body["reason"], body["pass_id"]) == (
        "allow", "visitor_pass", created.json()["id"])
    assert body["household"] == "3栋 1201"
    # The same car typed again at once is that passage, its one entry not spent twice.
    again = typed(client, guard_headers, "main-in", VISITOR).json()
    assert (again["passage_id"], again["reason"], again["repeat"]) == (
        body["passage_id"], "visitor_pass", True)


BAD: list[tuple[str, dict[str, Any], int, str]] = [
    ("main-in", {"plate": "粤B1234", "reason": REASON}, 422, "is not a valid Chinese plate"),
    ("main-in", {"plate": "", "reason": REASON}, 422, "is not a valid Chinese plate"),
    ("main-in", {"plate": RESIDENT, "reason": "x"}, 422, "at least 2 characters"),
    ("main-in", {"plate": RESIDENT}, 422, "Field required"),
    ("main-in", {"plate": RESIDENT, "reason": REASON, "extra": 1}, 422, "Extra inputs"),
    ("ped-1", {"plate": RESIDENT, "reason": REASON}, 422,
     "gate ped-1 is a pedestrian gate: a typed plate is for vehicle gates"),
    ("nowhere", {"plate": RESIDENT, "reason": REASON}, 404, "unknown gate 'nowhere'"),
]


def test_bad_typed_plates_are_refused_clearly_and_record_nothing(
    client: Any, guard_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    for gate, body, status, message in BAD:  # one app for the table: building one takes seconds
        response = client.post(f"/api/v1/gates/{gate}/typed-plate", json=body,
                               headers=guard_headers)
        assert response.status_code == status, (body, response.text)
        assert message in str(response.json()["detail"]), response.text
    assert client.get("/api/v1/passages", headers=admin_headers).json()["total"] == 0
    assert typed_audits(client) == []
    # Staff only: no login, or a camera's key, is not a guard.
    assert typed(client, {}, "main-in", RESIDENT).status_code == 401
    assert typed(client, {"X-API-Key": "test-camera-key"}, "main-in", RESIDENT).status_code == 401
    assert typed(client, admin_headers, "main-in", RESIDENT).status_code == 200


def test_a_cookie_session_needs_the_csrf_header(client: Any) -> None:
    add_staff(client.app.state.services, "guard", "guard")
    csrf = cookie_login(client, "guard", "guard")
    body = {"plate": STRANGER, "reason": REASON}
    refused = client.post("/api/v1/gates/main-in/typed-plate", json=body)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert typed_audits(client) == []
    ok = client.post("/api/v1/gates/main-in/typed-plate", json=body,
                     headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert ok.json()["decision"] == "review"


def test_during_an_outage_a_typed_plate_is_journalled_and_written_back(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    household_id = register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.runtime.refresh_offline)
    assert client.get("/api/v1/gates", headers=guard).status_code == 200  # seen active
    free_before = free_in_zone(client, "A")

    outage.cut(services.engine)
    response = typed(client, guard, "main-in", RESIDENT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["decision"], body["reason"], body["barrier"] in OPENED) == (
        "allow", "resident", True)
    assert body["passage_id"] is None and body["journal_id"]
    assert body["audit_id"] is None and body["audit_journal_id"]
    # The flat, from the offline snapshot: the guard checks it against the car (guide 4.6).
    assert (body["household_id"], body["household"]) == (household_id, "3栋 1201")
    assert {"typed", "offline"} <= set(body["flags"])
    # The booth page without the database keeps the button, and shows the row as typed.
    cookie_login(client, "guard", "guard")
    page = client.get("/console").text
    assert 'id="outage-banner"' in page and 'class="btn small typed-plate"' in page
    assert "人工录入车牌 · guard" in page

    outage.restore()
    wait_for(lambda: not services.runtime.journal_waiting() and not services.audit_waiting())
    with services.sessions() as session:
        row = session.scalars(select(Passage).filter_by(journal_id=body["journal_id"])).one()
        assert {"typed", "offline"} <= set(row.flags) and row.snapshot_path is None
        assert row.details == {"typed_by": "guard", "typed_reason": REASON}
        row_id = row.id
    assert free_in_zone(client, "A") == free_before - 1
    (audit,) = typed_audits(client)
    assert (audit.journal_id, audit.username, audit.reason, audit.passage_id, audit.gate_id) == (
        body["audit_journal_id"], "guard", REASON, row_id, "main-in")
    assert audit.details["decision"] == "allow"


def test_the_days_report_counts_a_typed_entry_as_the_guards_not_the_gates(
    client: Any, admin_headers: dict[str, str], guard_headers: dict[str, str]
) -> None:
    register_resident_car(client, admin_headers, RESIDENT)
    body = typed(client, guard_headers, "main-in", RESIDENT).json()
    day = passage(client, body["passage_id"]).at.replace(tzinfo=UTC).astimezone(
        ZoneInfo("Asia/Shanghai")).date()

    report = client.get(f"/api/v1/reports/{day.isoformat()}", headers=admin_headers).json()

    assert report["entries"] == 1 and report["automatic_share"] == 0.0
    assert report["guard_actions"] == {"guard": {"gate.typed_plate": 1}}


def test_the_console_words_a_typed_plate_in_chinese() -> None:
    from api.console.audit_texts import action_label, audit_details
    from api.console.error_texts import explain_message

    # (The booth page's table names the gate: 东门人行是人行通道…)
    assert explain_message(
        "zh", "gate ped-1 is a pedestrian gate: a typed plate is for vehicle gates"
    ) == "ped-1是人行通道：录入车牌只用于车辆出入口"
    assert action_label("zh", "gate.typed_plate") == "录入车牌"
    details = {"plate": "闽A12346", "matched_plate": RESIDENT, "decision": "allow",
               "passage_reason": "resident", "outcome": "opening", "household_id": 1}
    assert audit_details("zh", details, {1: "8栋 601"}, ZoneInfo("Asia/Shanghai")) == [
        ("车牌", "闽A12346"), ("按登记车牌", RESIDENT), ("判定", "放行"),
        ("判定原因", "业主车辆"), ("结果", "正在开启"), ("住户", "8栋 601"),
    ]


def test_a_huge_plate_is_refused_without_being_sent_back_whole(
    client: Any, guard_headers: dict[str, str]
) -> None:
    response = client.post("/api/v1/gates/main-in/typed-plate", headers=guard_headers,
                           json={"plate": "闽" * 8000, "reason": "摄像头故障"})
    assert response.status_code == 422
    assert "is not a valid Chinese plate" in response.text
    assert len(response.text) < 2000  # the first characters, not 8,000 of them
