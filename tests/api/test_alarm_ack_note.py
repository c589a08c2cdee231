"""A guard's note on an acknowledged alarm: kept with the acknowledgement and in its audit
entry, at most ACK_NOTE_CHARS characters (longer: 422, nothing acknowledged)."""

from __future__ import annotations

from typing import Any

import pytest

from models.db import transaction
from models.events import ACK_NOTE_CHARS, Alarm
from tests.api.test_console import cookie_login


def raise_alarm(client: Any, kind: str = "blocked_plate") -> int:
    with transaction(client.app.state.services.sessions) as session:
        alarm = Alarm(kind=kind, gate_id="main-in", message="blocked plate 沪K60613")
        session.add(alarm)
        session.flush()
        return alarm.id


def ack(client: Any, headers: dict[str, str], alarm_id: int, **body: Any) -> Any:
    return client.post(f"/api/v1/alarms/{alarm_id}/ack", json=body or None, headers=headers)


def test_the_note_is_kept_with_the_acknowledgement_and_in_the_audit_log(
    client: Any, guard_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    alarm_id = raise_alarm(client)

    done = ack(client, guard_headers, alarm_id, note="  车主忘带卡，已核实 ")

    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_note"] == "车主忘带卡，已核实"
    acked = client.get("/api/v1/alarms", params={"state": "acknowledged"}, headers=guard_headers)
    (item,) = acked.json()["items"]
    assert (item["id"], item["acknowledged_by"], item["acknowledged_note"]) == (
        alarm_id,
        "guard",
        "车主忘带卡，已核实",
    )
    audit = client.get("/api/v1/audit", params={"action": "alarm.ack"}, headers=admin_headers)
    (entry,) = audit.json()["items"]
    assert entry["reason"] == "车主忘带卡，已核实" and entry["target"] == f"alarm:{alarm_id}"


@pytest.mark.parametrize("body", [{}, {"note": ""}, {"note": "   "}])
def test_no_note_is_none(client: Any, guard_headers: dict[str, str], body: dict[str, str]) -> None:
    alarm_id = raise_alarm(client)
    done = ack(client, guard_headers, alarm_id, **body)
    assert done.status_code == 200, done.text
    assert done.json()["acknowledged_note"] is None
    with client.app.state.services.sessions() as session:
        assert session.get(Alarm, alarm_id).acknowledged_note is None


def test_a_note_of_the_longest_length_is_kept_whole(
    client: Any, guard_headers: dict[str, str]
) -> None:
    alarm_id = raise_alarm(client)
    note = "核" * ACK_NOTE_CHARS
    done = ack(client, guard_headers, alarm_id, note=note)
    assert done.status_code == 200, done.text
    with client.app.state.services.sessions() as session:
        assert session.get(Alarm, alarm_id).acknowledged_note == note


def test_a_longer_note_is_refused_and_the_alarm_stays_open(
    client: Any, guard_headers: dict[str, str]
) -> None:
    alarm_id = raise_alarm(client)

    refused = ack(client, guard_headers, alarm_id, note="核" * (ACK_NOTE_CHARS + 1))

    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]
    assert problem["loc"][-1] == "note" and f"at most {ACK_NOTE_CHARS} characters" in problem["msg"]
    still = client.get("/api/v1/alarms", headers=guard_headers).json()["items"]
    assert [a["id"] for a in still] == [alarm_id]
    assert ack(client, guard_headers, alarm_id, note="已核实").status_code == 200


def test_the_console_offers_the_note_in_chinese(client: Any, guard_headers: dict[str, str]) -> None:
    cookie_login(client, "guard", "guard")
    page = client.get("/console")
    assert page.status_code == 200
    assert 'id="ack-dialog"' in page.text and "处理情况（可不填）" in page.text
    assert "如：车主忘带卡，已核实" in page.text
