"""Past retention.passage_days a passage no longer says whose it was (PIPL), and the
property office's reports count that day as before.

Passages, an alarm and a visitor pass are made the way the gates make them (rendered plates
through the frame endpoint), then moved back in time by SQL, as a year of use would leave
them; the retention job runs as the controller runs it hourly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from models.db import transaction
from models.events import Alarm, AuditEntry, Passage
from models.vehicles import VisitorPass
from services.passage_retention import ANONYMISED, forget_old_passages
from tests.api.test_console import cookie_login
from tests.api.test_database_outage import RESIDENT, STRANGER, push
from tests.api.test_vehicle_entry import register_resident_car

BLOCKED = "粤B00001"
VISITOR = "苏E22222"
PERSONAL = ("plate", "matched_plate", "resolved_plate", "vehicle_id", "household_id",
            "resident_id", "pass_id")


def a_day_at_the_gates(client: Any, admin: dict[str, str]) -> int:
    """A resident, a visitor with a pass, a blocked car (alarm) and an unknown one resolved
    by a guard; returns the visitor pass's id."""
    hid = register_resident_car(client, admin, RESIDENT)
    now = datetime.now(UTC)
    created = client.post("/api/v1/passes", headers=admin, json={
        "plate": VISITOR, "host_household_id": hid, "note": "王先生 138xxxx",
        "valid_from": (now - timedelta(minutes=5)).isoformat(),
        "valid_to": (now + timedelta(hours=2)).isoformat(),
    })
    assert created.status_code == 201, created.text
    assert client.post("/api/v1/lists", headers=admin, json={
        "plate": BLOCKED, "kind": "block", "reason": "欠费"}).status_code == 201
    decisions = {plate: push(client, "main-in", plate).json()
                 for plate in (RESIDENT, VISITOR, BLOCKED, STRANGER)}
    assert [d["decision"] for d in decisions.values()] == ["allow", "allow", "deny", "review"]
    resolved = client.post(
        f"/api/v1/passages/{decisions[STRANGER]['passage_id']}/resolve", headers=admin,
        json={"resolution": "allow_once", "plate": STRANGER, "reason": "送货，业主电话确认"},
    )
    assert resolved.status_code == 200, resolved.text
    return int(created.json()["id"])


def a_year_ago(services: Any, days: int = 400) -> None:
    back = timedelta(days=days)
    with transaction(services.sessions) as session:
        rows: list[Passage | Alarm | AuditEntry] = [
            *session.scalars(select(Passage)),
            *session.scalars(select(Alarm)),
            *session.scalars(select(AuditEntry)),
        ]
        for row in rows:
            row.at -= back
        for visitor_pass in session.scalars(select(VisitorPass)):
            visitor_pass.valid_from -= back
            visitor_pass.valid_to -= back


def test_old_passages_lose_plates_and_people_but_count_as_before(
    client: Any, admin_headers: dict[str, str]
) -> None:
    services = client.app.state.services
    pass_id = a_day_at_the_gates(client, admin_headers)
    assert push(client, "main-out", VISITOR).json()["decision"] == "allow"  # the visit ends
    a_year_ago(services)
    # The day as the reports and the console count days (Beijing).
    old_day = (datetime.now(UTC) - timedelta(days=400)).astimezone(
        ZoneInfo("Asia/Shanghai")).date().isoformat()
    old = client.get("/api/v1/passages", headers=admin_headers).json()["items"]
    assert {p["plate"] for p in old} == {RESIDENT, VISITOR, BLOCKED, STRANGER}
    report_before = client.get(f"/api/v1/reports/{old_day}", headers=admin_headers).json()
    fresh = push(client, "main-out", RESIDENT).json()  # today's passage: kept whole
    with transaction(services.sessions) as session:
        audit_before = session.scalar(select(func.count()).select_from(AuditEntry))

    forgotten = forget_old_passages(services.sessions, services.settings.retention.passage_days)

    assert (forgotten.passages, forgotten.alarms, forgotten.passes) == (5, 1, 1)
    items = {p["id"]: p for p in client.get("/api/v1/passages", headers=admin_headers)
             .json()["items"]}
    kept = items.pop(fresh["passage_id"])
    assert kept["plate"] == RESIDENT and kept["vehicle_id"] is not None
    assert ANONYMISED not in kept["flags"]
    assert len(items) == 5
    for passage in items.values():
        assert all(passage[field] is None for field in PERSONAL), passage
        assert passage["details"] == {} and passage["has_snapshot"] is False
        assert ANONYMISED in passage["flags"]
        snapshot = client.get(f"/api/v1/passages/{passage['id']}/snapshot", headers=admin_headers)
        assert snapshot.status_code == 404
    before = {p["id"]: p for p in old}
    for pid, passage in items.items():  # what the statistics read is unchanged
        for field in ("at", "gate_id", "direction", "zone_id", "decision", "reason",
                      "credential", "barrier_outcome", "resolution", "resolved_by"):
            assert passage[field] == before[pid][field], field
    report_after = client.get(f"/api/v1/reports/{old_day}", headers=admin_headers).json()
    assert report_after == report_before
    (alarm,) = client.get("/api/v1/alarms", headers=admin_headers).json()["items"]
    assert alarm["kind"] == "blocked_plate" and BLOCKED not in str(alarm)
    assert client.get(f"/api/v1/passes/{pass_id}", headers=admin_headers).status_code == 404
    with transaction(services.sessions) as session:  # staff actions stay on record
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before
    # Nothing left to do the next hour; and the booth page says why the plate is gone.
    assert not forget_old_passages(services.sessions, 365)
    cookie_login(client, "admin", "admin")
    history = client.get("/console/history", params={"since": old_day, "until": old_day})
    assert history.status_code == 200 and "已过保存期" in history.text
    assert all(plate not in history.text for plate in (RESIDENT, VISITOR, BLOCKED, STRANGER))


def test_zero_days_keeps_everything(client: Any, admin_headers: dict[str, str]) -> None:
    services = client.app.state.services
    a_day_at_the_gates(client, admin_headers)
    a_year_ago(services, days=3000)
    assert not forget_old_passages(services.sessions, 0)
    plates = {p["plate"] for p in client.get("/api/v1/passages", headers=admin_headers)
              .json()["items"]}
    assert plates == {RESIDENT, VISITOR, BLOCKED, STRANGER}


def test_a_pass_whose_car_is_still_recorded_inside_is_kept(
    client: Any, admin_headers: dict[str, str]
) -> None:
    """The exit camera missed the visitor leaving a year ago: deleting the pass would make
    that presence row look like one of the household's own cars (its pass id set null), and
    the household's own car would then be sent to a guard as over its spaces."""
    services = client.app.state.services
    pass_id = a_day_at_the_gates(client, admin_headers)  # the visitor went in, never out
    a_year_ago(services)

    forgotten = forget_old_passages(services.sessions, 365)

    assert forgotten.passes == 0
    kept = client.get(f"/api/v1/passes/{pass_id}", headers=admin_headers)
    assert kept.status_code == 200 and kept.json()["plate"] == VISITOR
    # Once the car is seen leaving, the next run deletes the pass.
    out = push(client, "main-out", VISITOR).json()
    assert out["decision"] == "allow", out
    assert forget_old_passages(services.sessions, 365).passes == 1
