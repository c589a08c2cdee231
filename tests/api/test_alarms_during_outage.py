"""The guards see the alarms raised during a database outage in the console's alarm list.

They used to see the gate in fault on the gate strip and nothing in the alarm list (it read
the database, and answered 503) exactly when alarms matter most. The list now shows them from
the journal, marked not stored yet and without the acknowledge button, and once the database
answers and the journal is written back, the stored rows, each once. The database really goes
away (tests/db_outage.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from api.app import create_app
from controllers.ports import PendingAlarm
from hardware.simulated import SimFault
from models.db import transaction
from models.people import User
from services.container import build_services
from services.passage_journal import FilePassageJournal
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_database_outage import FAST, RESIDENT, push, wait_for
from tests.api.test_vehicle_entry import register_resident_car
from tests.db_outage import DatabaseOutage

ALARMS = "/console/fragments/alarms"


def push_as_camera(client: Any, gate: str, plate: str) -> Any:
    """A camera's frame, without the guard's cookies (a camera sends none; with them the
    request would need the console's CSRF token). Through the same client on purpose: a
    second, unentered TestClient runs each request on an event loop of its own, where the
    runtime's asyncio locks, shared with the safety supervisor on the app's loop, can hang."""
    cookies = list(client.cookies.jar)
    client.cookies.clear()
    try:
        return push(client, gate, plate)
    finally:
        for cookie in cookies:
            client.cookies.jar.set_cookie(cookie)


def alarm_list(client: Any, headers: dict[str, str], **params: Any) -> Any:
    response = client.get("/api/v1/alarms", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_barrier_fault_during_an_outage_is_listed_unstored_then_stored_once(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.runtime.refresh_offline)
    cookie_login(client, "guard", "guard")  # the booth page, open before the outage
    assert alarm_list(client, guard)["total"] == 0
    services.barriers["main-in"].inject_fault(SimFault.OFFLINE)

    outage.cut(services.engine)
    car = push_as_camera(client, "main-in", RESIDENT).json()
    assert car["journal_id"] and car["barrier"] == "fault", car

    fragment = client.get(ALARMS)
    assert fragment.status_code == 200, fragment.text
    assert 'data-database="down"' in fragment.text
    assert 'class="alarm unstored"' in fragment.text
    assert 'data-kind="hardware_fault"' in fragment.text
    assert "未保存" in fragment.text and "数据库暂时不可用" in fragment.text
    assert "data-ack=" not in fragment.text  # nothing to acknowledge until it is stored
    client.cookies.set("parkgate_lang", "en")
    assert "Not yet stored" in client.get(ALARMS).text
    client.cookies.delete("parkgate_lang")

    during = alarm_list(client, guard)
    assert during["database"] is False and during["total"] == 1
    (unstored,) = during["items"]
    assert (unstored["kind"], unstored["gate_id"]) == ("hardware_fault", "main-in")
    assert unstored["id"] is None and unstored["stored"] is False
    assert alarm_list(client, guard, state="acknowledged")["items"] == []
    # Acknowledging needs the database: it says so, never a 500.
    ack = client.post("/api/v1/alarms/1/ack", headers=guard)
    assert ack.status_code == 503 and "database is unavailable" in ack.json()["detail"]

    outage.restore()
    wait_for(lambda: not services.runtime.journal_waiting())

    after = alarm_list(client, guard)
    assert after["database"] is True
    faults = [a for a in after["items"] if a["kind"] == "hardware_fault"]
    assert len(faults) == 1 and faults[0]["stored"] is True and faults[0]["id"] is not None
    assert faults[0]["message"] == unstored["message"]
    assert {a["kind"] for a in after["items"]} == {"hardware_fault", "database_outage"}
    fragment = client.get(ALARMS).text
    assert "unstored" not in fragment and "data-database" not in fragment
    assert fragment.count('data-kind="hardware_fault"') == 1
    assert f'data-ack="{faults[0]["id"]}"' in fragment


def test_only_staff_known_active_read_the_list_while_the_database_is_down(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The account check is a database read; during an outage the list trusts a valid token
    only for an account this controller last knew active."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    seen = add_staff(services, "guard", "guard")
    # A valid token of an account this controller never read active (made elsewhere).
    never_seen = {"Authorization": f"Bearer {services.signer.issue('guard2', 'guard')}"}
    dismissed = add_staff(services, "guard3", "guard")
    cookie_login(client, "guard", "guard")
    alarm_list(client, dismissed)
    with transaction(services.sessions) as session:
        session.execute(update(User).where(User.username == "guard3").values(active=False))
    assert client.get("/api/v1/alarms", headers=dismissed).status_code == 401

    outage.cut(services.engine)
    client.portal.call(services.safety.fire_input.set, True)  # another alarm, no passage

    wait_for(lambda: alarm_list(client, seen)["total"] == 1)
    (fire,) = alarm_list(client, seen)["items"]
    assert fire["kind"] == "fire_alarm" and fire["stored"] is False
    assert 'data-kind="fire_alarm"' in client.get(ALARMS).text
    for headers in (never_seen, dismissed):
        refused = client.get("/api/v1/alarms", headers=headers)
        assert refused.status_code == 503 and "database" in refused.json()["detail"]
    stranger = TestClient(client.app)  # no session, no token
    assert stranger.get("/api/v1/alarms").status_code == 401
    assert stranger.get(ALARMS).status_code == 401
    # The booth page too, without the database (tests/api/test_console_during_outage.py).
    page = client.get("/console")
    assert page.status_code == 200 and 'id="outage-banner"' in page.text

    outage.restore()
    wait_for(lambda: not services.runtime.journal_waiting())
    (stored,) = alarm_list(client, seen)["items"]  # no passages: no database_outage alarm
    assert stored["kind"] == "fire_alarm" and stored["stored"] is True


def test_an_alarm_in_the_journal_and_already_stored_is_listed_once(
    make_settings: Any, plate_recognizer: Any
) -> None:
    """The write-back stores the journal's alarms and trims them from it afterwards; a list
    read in between (or a crash in between) sees both, and must show the row only. An alarm
    still waiting comes first, newest first, and the pages count it."""
    settings = make_settings()
    services = build_services(settings, recognizer=plate_recognizer)
    client = TestClient(create_app(services))  # no lifespan: nothing writes the journal back
    journal = FilePassageJournal(settings.data_dir / "journal" / "passages.jsonl")
    guard = add_staff(services, "guard", "guard")
    now = datetime.now(UTC)
    with services.store.unit() as unit:
        older = unit.raise_alarm("pin_locked", gate_id="ped-1", passage_id=None,
                                 message="pin_locked at ped-1: resident 4",
                                 at=now - timedelta(hours=1))
    written, waiting, also_waiting = (
        PendingAlarm(uuid.uuid4().hex, kind, gate, message, now - timedelta(minutes=minutes))
        for kind, gate, message, minutes in (
            ("fire_alarm", None, "input fire active", 3),
            ("hardware_fault", "main-in", "barrier at main-in did not open: offline", 2),
            ("hardware_fault", "main-out", "barrier at main-out did not open: offline", 1),
        )
    )
    for alarm in (written, waiting, also_waiting):
        journal.append_alarm(alarm)
    with services.store.unit() as unit:  # what the write-back does before it trims
        stored_id = unit.raise_alarm(written.kind, gate_id=None, passage_id=None,
                                     message=written.message, at=written.at)
    try:
        page = alarm_list(client, guard)
        assert page["total"] == 4 and page["database"] is True
        assert [(a["id"], a["gate_id"]) for a in page["items"]] == [
            (None, "main-out"), (None, "main-in"), (stored_id, None), (older, "ped-1")
        ]
        second = alarm_list(client, guard, limit=2, offset=1)["items"]
        assert [a["id"] for a in second] == [None, stored_id]
        assert [a["id"] for a in alarm_list(client, guard, limit=2, offset=2)["items"]] == [
            stored_id, older
        ]

        cookie_login(client, "guard", "guard")
        fragment = client.get(ALARMS).text
        assert fragment.count('data-kind="fire_alarm"') == 1
        assert fragment.count('class="alarm unstored"') == 2
        assert f'data-ack="{stored_id}"' in fragment and 'data-count="4"' in fragment
        assert f'data-alarm-key="{written.key}"' not in fragment
    finally:
        services.engine.dispose()
