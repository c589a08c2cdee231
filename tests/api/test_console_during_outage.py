"""The guard console keeps working while the database is down.

It used to show only the outage page on (re)load, and a gate action answered 503 at the
account check (the barrier did not move): a visitor or a misread resident waited at a closed
barrier with the guard unable to open it from the booth. Now staff this process last saw
active get the booth page without the database (banner, gate strip, passages from the
journal, unstored alarms, the review queue paused with the reason), and a gate action moves
the barrier with its audit entry journalled on disk, written to the audit log once, with
who, why and when, after the database answers. The database really goes away
(tests/db_outage.py).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from api.console.config import ConsoleConfig
from api.console.security import ConsoleSecurity
from models.db import transaction
from models.events import AuditEntry
from services.audit_journal import FileAuditJournal, write_back
from tests.api.test_alarms_during_outage import ALARMS, push_as_camera
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_database_outage import FAST, RESIDENT, STRANGER, wait_for
from tests.api.test_start_during_outage import stop
from tests.api.test_vehicle_entry import register_resident_car
from tests.db_outage import DatabaseOutage

REASON = "访客无通行证，业主电话确认"
VISITOR = "苏E88888"


def audit_rows(services: Any) -> list[AuditEntry]:
    with transaction(services.sessions) as session:
        rows = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "gate.open")))
        session.expunge_all()
    return rows


def open_gate(client: Any, csrf: str, gate: str, **extra: Any) -> Any:
    """The gate dialog's call, from the booth page's session (cookie and CSRF token)."""
    return client.post(f"/api/v1/gates/{gate}/actions",
                       json={"action": "open", "reason": REASON, **extra},
                       headers={"X-CSRF-Token": csrf})


def test_a_guard_opens_a_gate_from_the_degraded_console_and_it_is_audited_once(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.runtime.refresh_offline)
    add_staff(services, "guard", "guard")
    cookie_login(client, "guard", "guard")  # the booth page, open before the outage

    outage.cut(services.engine)
    car = push_as_camera(client, "main-in", STRANGER).json()  # a plate nobody registered
    assert car["decision"] == "review" and car["journal_id"], car

    page = client.get("/console")  # the guard reloads the page
    assert page.status_code == 200, page.text[:300]
    html = page.text
    assert 'id="outage-banner"' in html and "数据库暂时不可用" in html
    assert re.search(r'id="waiting-passages">1<', html)
    for gate in ("main-in", "main-out"):
        assert f'data-gate="{gate}" data-action="open"' in html
        assert f'data-gate="{gate}" data-action="close"' in html
    row = re.search(rf'<tr [^>]*data-journal="{car["journal_id"]}"[^>]*>.*?</tr>', html, re.S)
    assert row is not None and STRANGER in row.group(0)
    assert 'data-decision="review"' in row.group(0)
    assert "待人工处理和访客登记暂停" in html  # the paused queue says why and what to do
    assert 'data-resolution="visitor_pass"' not in html
    assert 'data-database="down"' in html  # the alarm list polls while the database is away
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert csrf is not None
    fragment = client.get(f"/console/fragments/journal/{car['journal_id']}")
    assert fragment.status_code == 200 and STRANGER in fragment.text
    # What a booth's catch-up reads beside the stored rows: the journal's passages, as rows.
    listed = client.get("/console/fragments/journal", params={"limit": 200})
    assert listed.status_code == 200, listed.text[:300]
    assert re.findall(r'data-journal="([0-9a-f]+)"', listed.text) == [car["journal_id"]]

    before = datetime.now(UTC)
    opened = open_gate(client, csrf.group(1), "main-in")
    after = datetime.now(UTC)
    assert opened.status_code == 200, opened.text
    body = opened.json()
    assert body["state"] in ("opening", "open") and body["audit_id"] is None
    assert body["journal_id"]
    barrier = services.barriers["main-in"]
    assert str(barrier.state) in ("opening", "open")
    (waiting,) = services.audit_journal.pending()
    assert (waiting.key, waiting.username, waiting.reason) == (body["journal_id"], "guard", REASON)
    assert waiting.details == {"outcome": body["state"]}
    assert 'data-waiting-actions="1"' in client.get(ALARMS).text

    outage.restore()
    wait_for(lambda: not services.audit_waiting() and not services.runtime.journal_waiting())

    (row_written,) = audit_rows(services)
    assert (row_written.username, row_written.reason, row_written.gate_id) == (
        "guard", REASON, "main-in"
    )
    assert before <= row_written.at <= after  # when the guard acted, not when it was written
    assert row_written.journal_id == body["journal_id"]
    assert row_written.details == {"outcome": body["state"]}
    audit = client.get("/api/v1/audit", params={"action": "gate.open"}, headers=admin).json()
    assert audit["total"] == 1 and audit["items"][0]["username"] == "guard"

    # A crash between the write and the trim leaves the entry in the journal: written again,
    # it adds nothing.
    services.audit_journal.record(waiting)
    result = write_back(services.sessions, services.audit_journal)
    assert result.written == result.set_aside == [] and not services.audit_waiting()
    assert len(audit_rows(services)) == 1

    back = client.get("/console")
    assert back.status_code == 200 and 'id="outage-banner"' not in back.text
    assert 'data-journal="' not in back.text  # the passage is a stored row now
    assert 'data-journal="' not in client.get("/console/fragments/journal").text
    assert STRANGER in back.text


def test_a_gate_action_names_a_passage_checked_once_the_database_answers(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The passage named cannot be checked during the outage: the link is written when it is
    right (that passage, at that gate) and kept aside in the details when it is not."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    csrf = cookie_login(client, "guard", "guard")
    at_main_in = push_as_camera(client, "main-in", STRANGER).json()["passage_id"]
    at_main_out = push_as_camera(client, "main-out", RESIDENT).json()["passage_id"]
    assert at_main_in and at_main_out

    outage.cut(services.engine)
    assert client.get("/console").status_code == 200
    linked = open_gate(client, csrf, "main-in", passage_id=at_main_in)
    wrong_gate = open_gate(client, csrf, "main-in", passage_id=at_main_out)
    assert linked.status_code == 200 and wrong_gate.status_code == 200, wrong_gate.text

    outage.restore()
    wait_for(lambda: not services.audit_waiting())
    rows = {row.journal_id: row for row in audit_rows(services)}
    assert rows[linked.json()["journal_id"]].passage_id == at_main_in
    refused = rows[wrong_gate.json()["journal_id"]]
    assert refused.passage_id is None
    assert refused.details["passage_named"] == at_main_out
    assert "main-out" in refused.details["not_linked"]


def test_accounts_not_known_active_get_the_outage_page_and_move_no_barrier(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    # A validly signed token of an account this controller never read active (made at the
    # office after its last refresh, say): the outage cannot vouch for it.
    never_seen = {"Authorization": f"Bearer {services.signer.issue('guard2', 'guard')}"}

    outage.cut(services.engine)
    refused = client.post("/api/v1/gates/main-in/actions",
                          json={"action": "open", "reason": REASON}, headers=never_seen)
    assert refused.status_code == 503 and "database" in refused.json()["detail"]
    assert client.get("/api/v1/events/stream", headers=never_seen).status_code == 503
    assert client.get("/api/v1/gates", headers=never_seen).status_code == 503
    time.sleep(0.3)  # a barrier driven by mistake would be moving by now
    assert str(services.barriers["main-in"].state) == "closed"
    assert not services.audit_waiting()

    browser = TestClient(client.app)  # a session cookie for the account, never seen either
    signer = ConsoleSecurity(services.settings.signing_key(), ConsoleConfig()).signer
    browser.cookies.set("parkgate_session", signer.issue("guard2", "guard"))
    page = browser.get("/console")
    assert page.status_code == 503 and 'id="outage-banner"' not in page.text
    assert "数据库暂时不可用" in page.text
    stranger = TestClient(client.app)  # no session at all
    login = stranger.get("/console", follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"].startswith("/console/login")
    assert stranger.get("/console/fragments/journal/abc123").status_code == 401
    assert stranger.get("/console/fragments/journal").status_code == 401
    outage.restore()


def test_an_action_that_cannot_be_audited_is_not_carried_out(
    app_factory: Any, outage: DatabaseOutage, tmp_path: Path
) -> None:
    """The entry is journalled before the barrier moves: with neither the database nor the
    local disk to keep it, the barrier stays as it is and the guard is told."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    csrf = cookie_login(client, "guard", "guard")
    full_disk = tmp_path / "not-a-directory"
    full_disk.write_text("")
    services.audit_journal = FileAuditJournal(full_disk / "audit.jsonl")

    outage.cut(services.engine)
    assert client.get("/console").status_code == 200
    refused = open_gate(client, csrf, "main-in")

    assert refused.status_code == 503 and "audit journal" in refused.json()["detail"]
    time.sleep(0.3)  # a barrier driven by mistake would be moving by now
    assert str(services.barriers["main-in"].state) == "closed"
    outage.restore()


def journal_row(html: str, journal_id: str) -> str:
    row = re.search(rf'<tr [^>]*data-journal="{journal_id}"[^>]*>.*?</tr>', html, re.S)
    assert row is not None, f"no row for journal entry {journal_id}"
    return row.group(0)


def assert_rows_name_the_flat(client: Any, cars: dict[str, str], household_id: int) -> None:
    """Every view of a journalled passage (the live event's row, the catch-up's list, the
    page reloaded) names its household as a stored row does, not by its id."""
    journal_ids = list(cars.values())
    views = {"list": client.get("/console/fragments/journal").text,
             "page": client.get("/console").text}
    for plate, journal_id in cars.items():
        views[plate] = client.get(f"/console/fragments/journal/{journal_id}").text
    for view, html in views.items():
        for plate, journal_id in cars.items():
            if view in cars and view != plate:
                continue
            row = journal_row(html, journal_id)
            assert plate in row, (view, row)
            assert '<span class="nowrap">3栋 1201</span>' in row, (view, plate, row)
            assert f'<span class="nowrap">#{household_id}</span>' not in row, (view, row)
    assert re.findall(r'data-journal="([0-9a-f]+)"', views["list"]) == journal_ids[::-1]


def test_journal_rows_name_the_household_during_an_outage_and_after_a_restart_in_it(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """A resident's car and a visitor's car let in on a pass while the database is down show
    「3栋 1201」 (the car's household, the pass's host) as stored rows do: the labels come
    with the offline snapshot, also the one read back from disk after a restart. They used
    to show "#1": the labels came from the households table, which cannot be read then."""
    first = app_factory(database_url=outage.url, **FAST)
    services = first.app.state.services
    admin = add_staff(services, "admin", "admin")
    household_id = register_resident_car(first, admin, RESIDENT)
    now = datetime.now(UTC)
    visit = first.post("/api/v1/passes", headers=admin, json={
        "plate": VISITOR, "host_household_id": household_id,
        "valid_from": (now - timedelta(minutes=5)).isoformat(),
        "valid_to": (now + timedelta(hours=4)).isoformat(),
    })
    assert visit.status_code == 201, visit.text
    add_staff(services, "guard", "guard")
    first.portal.call(services.refresh_staff)  # the guard is known after a restart too
    first.portal.call(services.refresh_offline)
    cookie_login(first, "guard", "guard")

    outage.cut(services.engine)
    cars = {}
    for plate in (RESIDENT, VISITOR):
        car = push_as_camera(first, "main-in", plate).json()
        assert car["decision"] == "allow" and car["journal_id"], car
        cars[plate] = car["journal_id"]
    assert_rows_name_the_flat(first, cars, household_id)

    stop(first)  # a restart while the database is still down
    client = app_factory(database_url=outage.url, **FAST)
    assert not client.app.state.services.database_ready
    cookie_login(client, "guard", "guard")
    assert_rows_name_the_flat(client, cars, household_id)

    outage.restore()
    wait_for(lambda: not client.app.state.services.runtime.journal_waiting())
