"""A guard's open naming a passage during a database outage counts its car, as online.

Online, when an allowed car's barrier does not open its admission is taken back, and the
guard's open naming that passage gives it back (tests/api/test_guard_open_gives_admission_back
.py). During an outage that open moved the barrier and was audited, but the passage was left
as it was: the car stayed uncounted (zone count, anti-passback) until an admin corrected the
count, and a passage decided offline could not be named at all (it has no id yet). Now the
open is journalled for the passage (by its id, or by the journal id the camera was answered
with), the gates count the car at once, and the write-back gives the passage the open and
the zone its car, once. The database really goes away (tests/db_outage.py); the barrier is
the simulated driver, failing once.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from controllers.ports import ADMISSION_UNDONE
from hardware.simulated import SimFault
from models.events import AuditEntry, Passage
from models.vehicles import Presence
from services.passage_journal import FilePassageJournal
from tests.api.test_console import add_staff, cookie_login
from tests.api.test_console_during_outage import open_gate
from tests.api.test_database_outage import FAST, RESIDENT, STRANGER, push, wait_for
from tests.api.test_start_during_outage import stop
from tests.api.test_vehicle_entry import free_in_zone, register_resident_car
from tests.db_outage import DatabaseOutage

OPENED = ("opening", "open")
REASON = "道闸故障，人工放行"


@pytest.fixture
def site(app_factory: Any, outage: DatabaseOutage) -> tuple[Any, dict[str, str]]:
    """A resident's car, hard anti-passback (a second entry is refused, not just flagged),
    and a guard the controller has seen active (so the outage lets them act)."""
    client = app_factory(database_url=outage.url,
                         access={**FAST["access"], "anti_passback": "hard"})
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.runtime.refresh_offline)
    assert client.get("/api/v1/gates", headers=guard).status_code == 200
    return client, guard


def failed_entry(client: Any, gate: str = "main-in") -> dict[str, Any]:
    """The car is allowed and its barrier does not open (its relay unreachable, once)."""
    barrier = client.app.state.services.barriers[gate]
    barrier.inject_fault(SimFault.OFFLINE)
    body = dict(push(client, gate, RESIDENT).json())
    barrier.clear_faults()
    assert (body["decision"], body["barrier"]) == ("allow", "fault"), body
    return body


def guard_opens(client: Any, guard: dict[str, str], gate: str, **named: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/gates/{gate}/actions", headers=guard,
                           json={"action": "open", "reason": REASON, **named})
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert body["state"] in OPENED and body["audit_id"] is None and body["journal_id"], body
    return body


def written_back(client: Any) -> None:
    services = client.app.state.services
    wait_for(lambda: not services.runtime.journal_waiting() and not services.audit_waiting())


def passage_row(client: Any, **where: Any) -> Passage:
    with client.app.state.services.sessions() as session:
        row = session.scalars(select(Passage).filter_by(**where)).one()
        session.expunge(row)
    return row


def inside_by(client: Any) -> int | None:
    """The passage the car is recorded inside by, if it is."""
    with client.app.state.services.sessions() as session:
        return session.scalar(select(Presence.passage_id).where(Presence.plate == RESIDENT))


def gate_open_audits(client: Any) -> list[AuditEntry]:
    with client.app.state.services.sessions() as session:
        rows = list(session.scalars(
            select(AuditEntry).where(AuditEntry.action == "gate.open").order_by(AuditEntry.at)
        ))
        session.expunge_all()
    return rows


def test_an_open_naming_a_passage_decided_offline_counts_its_car_once(
    site: tuple[Any, dict[str, str]], outage: DatabaseOutage
) -> None:
    client, guard = site
    services = client.app.state.services
    free_before = free_in_zone(client, "A")

    outage.cut(services.engine)
    failed = failed_entry(client)
    assert failed["passage_id"] is None and failed["journal_id"]
    opened = guard_opens(client, guard, "main-in", passage_journal_id=failed["journal_id"])
    assert opened["admission"] == "redone"
    # The gates know the car is inside now: hard anti-passback refuses a second entry.
    again = push(client, "main-in", RESIDENT).json()
    assert (again["decision"], again["reason"]) == ("deny", "anti_passback"), again

    outage.restore()
    written_back(client)
    row = passage_row(client, journal_id=failed["journal_id"])
    assert row.barrier_outcome == opened["state"] and ADMISSION_UNDONE not in row.flags
    assert inside_by(client) == row.id
    assert free_in_zone(client, "A") == free_before - 1  # one car, counted once
    (audit,) = gate_open_audits(client)
    assert (audit.username, audit.reason, audit.passage_id) == ("guard", REASON, row.id)
    assert audit.details == {"outcome": opened["state"], "admission": "redone"}
    assert audit.journal_id == opened["journal_id"]


def test_an_open_naming_a_stored_passage_during_the_outage_counts_its_car_once(
    site: tuple[Any, dict[str, str]], outage: DatabaseOutage
) -> None:
    client, guard = site
    services = client.app.state.services
    free_before = free_in_zone(client, "A")
    failed = failed_entry(client)  # recorded online, its admission taken back
    passage_id = int(failed["passage_id"])
    assert ADMISSION_UNDONE in passage_row(client, id=passage_id).flags

    outage.cut(services.engine)
    opened = guard_opens(client, guard, "main-in", passage_id=passage_id)
    assert opened["admission"] == "redone"
    again = push(client, "main-in", RESIDENT).json()
    assert (again["decision"], again["reason"]) == ("deny", "anti_passback"), again

    outage.restore()
    written_back(client)
    row = passage_row(client, id=passage_id)
    assert row.barrier_outcome == opened["state"] and ADMISSION_UNDONE not in row.flags
    assert inside_by(client) == passage_id
    assert free_in_zone(client, "A") == free_before - 1
    (audit,) = gate_open_audits(client)
    assert audit.passage_id == passage_id and audit.details["admission"] == "redone"


def test_a_car_counted_on_a_retry_is_not_counted_again_even_if_the_open_is_written_twice(
    site: tuple[Any, dict[str, str]], outage: DatabaseOutage
) -> None:
    client, guard = site
    services = client.app.state.services
    free_before = free_in_zone(client, "A")
    journal = FilePassageJournal(services.settings.data_dir / "journal" / "passages.jsonl")

    outage.cut(services.engine)
    failed = failed_entry(client)
    retry = push(client, "main-in", RESIDENT).json()  # not refused: the car did not move
    assert (retry["decision"], retry["barrier"]) == ("allow", "opening"), retry
    late = guard_opens(client, guard, "main-in", passage_journal_id=failed["journal_id"])
    assert late["admission"] is None
    (reopen,) = journal.backlog().reopens

    outage.restore()
    written_back(client)
    retried = passage_row(client, journal_id=retry["journal_id"])
    assert inside_by(client) == retried.id
    assert free_in_zone(client, "A") == free_before - 1
    first = passage_row(client, journal_id=failed["journal_id"])
    assert first.barrier_outcome == late["state"]
    assert ADMISSION_UNDONE in first.flags  # still not counted by it, as online
    (audit,) = gate_open_audits(client)
    assert audit.passage_id == first.id and "admission" not in audit.details

    # A crash between the write-back and the journal's trim writes the open again.
    journal.append_guard_open(reopen)
    client.portal.call(services.runtime.replay_journal)
    assert not journal.waiting()
    assert free_in_zone(client, "A") == free_before - 1 and inside_by(client) == retried.id


def test_a_car_let_in_by_the_guard_that_leaves_during_the_outage_is_not_left_inside(
    site: tuple[Any, dict[str, str]], outage: DatabaseOutage
) -> None:
    """The write-back gives the open its place among the passages: applied after the exit,
    the open would put back inside a car that had left."""
    client, guard = site
    services = client.app.state.services
    free_before = free_in_zone(client, "A")

    outage.cut(services.engine)
    failed = failed_entry(client)
    assert guard_opens(client, guard, "main-in",
                       passage_journal_id=failed["journal_id"])["admission"] == "redone"
    left = push(client, "main-out", RESIDENT).json()
    assert (left["decision"], left["reason"]) == ("allow", "exit_known_inside"), left

    outage.restore()
    written_back(client)
    assert inside_by(client) is None
    assert free_in_zone(client, "A") == free_before
    row = passage_row(client, journal_id=failed["journal_id"])
    assert row.barrier_outcome in OPENED and ADMISSION_UNDONE not in row.flags


def test_a_journal_id_must_name_a_waiting_passage_of_that_gate_before_anything_moves(
    site: tuple[Any, dict[str, str]], outage: DatabaseOutage
) -> None:
    client, guard = site
    services = client.app.state.services

    outage.cut(services.engine)
    failed = failed_entry(client)

    def refused(gate: str, **named: Any) -> Any:
        response = client.post(f"/api/v1/gates/{gate}/actions", headers=guard,
                               json={"action": "open", "reason": REASON, **named})
        assert 400 <= response.status_code < 500, response.text
        return response.json()

    assert "main-in" in str(refused("main-out", passage_journal_id=failed["journal_id"]))
    refused("main-in", passage_journal_id="0123abcd")
    refused("main-in", passage_journal_id=failed["journal_id"], passage_id=1)
    assert str(services.barriers["main-out"].state) == "closed"
    assert not services.audit_waiting()
    outage.restore()


def test_a_restart_during_the_outage_keeps_the_car_the_guard_let_in_counted(
    app_factory: Any, site: tuple[Any, dict[str, str]], outage: DatabaseOutage
) -> None:
    """The gates' offline view is rebuilt from the journal at start: the guard's open with
    the passages, where it happened among them."""
    first, guard = site
    free_before = free_in_zone(first, "A")
    outage.cut(first.app.state.services.engine)
    failed = failed_entry(first)
    guard_opens(first, guard, "main-in", passage_journal_id=failed["journal_id"])
    stop(first)

    client = app_factory(database_url=outage.url,
                         access={**FAST["access"], "anti_passback": "hard"})
    again = push(client, "main-in", RESIDENT).json()
    assert (again["decision"], again["reason"]) == ("deny", "anti_passback"), again

    outage.restore()
    written_back(client)
    row = passage_row(client, journal_id=failed["journal_id"])
    assert inside_by(client) == row.id and ADMISSION_UNDONE not in row.flags
    assert free_in_zone(client, "A") == free_before - 1


def booth_row(client: Any, journal_id: str) -> str:
    """The booth screen's live row of a passage waiting in the journal."""
    response = client.get(f"/console/fragments/journal/{journal_id}")
    assert response.status_code == 200, response.text
    return str(response.text)


def test_the_booth_row_of_a_car_let_in_offline_whose_barrier_failed_offers_the_open(
    site: tuple[Any, dict[str, str]], outage: DatabaseOutage
) -> None:
    """As its stored row would: 「道闸未开，未计通行」 with 「人工开闸放行」, naming the passage
    by its journal id, until the guard's open counts the car. A car the gates refused has no
    such button (online neither: a gate action does not admit a refused passage)."""
    client, _ = site
    services = client.app.state.services

    outage.cut(services.engine)
    failed = failed_entry(client)
    stranger = push(client, "main-in", STRANGER).json()
    assert stranger["journal_id"] and stranger["decision"] != "allow", stranger

    csrf = cookie_login(client, "guard", "guard")  # the booth page, loaded during the outage
    row = booth_row(client, failed["journal_id"])
    assert "道闸未开，未计通行" in row and "离线判定" in row
    button = re.search(r'<button [^>]*class="[^"]*passage-open[^>]*>', row)
    assert button is not None, row
    assert f'data-passage-journal="{failed["journal_id"]}"' in button.group(0)
    assert 'data-gate="main-in"' in button.group(0) and "data-passage=" not in button.group(0)
    assert "passage-open" not in booth_row(client, stranger["journal_id"])

    page = client.get("/console").text  # the degraded page renders it so too
    assert 'id="outage-banner"' in page
    assert f'data-passage-journal="{failed["journal_id"]}"' in page

    opened = open_gate(client, csrf, "main-in", passage_journal_id=failed["journal_id"])
    assert opened.status_code == 200, opened.text
    assert opened.json()["admission"] == "redone"
    row = booth_row(client, failed["journal_id"])  # counted now: nothing left to open for
    assert "passage-open" not in row and "道闸未开，未计通行" not in row

    outage.restore()
    written_back(client)
    stored = passage_row(client, journal_id=failed["journal_id"])
    assert stored.barrier_outcome in OPENED and ADMISSION_UNDONE not in stored.flags


def test_healthz_counts_a_guards_open_waiting_alone_in_the_journal(
    site: tuple[Any, dict[str, str]], outage: DatabaseOutage
) -> None:
    """An open naming a passage stored before the outage leaves only a guard_open line in the
    journal: /healthz said journal_waiting 0 (and, with no gate action waiting either, ok)
    while it waited to be written to that passage."""
    client, guard = site
    services = client.app.state.services
    passage_id = int(failed_entry(client)["passage_id"])  # recorded online, barrier failed

    outage.cut(services.engine)
    guard_opens(client, guard, "main-in", passage_id=passage_id)
    backlog = FilePassageJournal(
        services.settings.data_dir / "journal" / "passages.jsonl").backlog()
    assert len(backlog.reopens) == 1 and len(backlog) == 1  # nothing else waits in it
    health = client.get("/healthz").json()
    assert health["journal_waiting"] == 1
    assert health["status"] == "degraded" and health["database"] is False

    outage.restore()
    written_back(client)
    wait_for(lambda: client.get("/healthz").json()["status"] == "ok")
    assert client.get("/healthz").json()["journal_waiting"] == 0
    assert ADMISSION_UNDONE not in passage_row(client, id=passage_id).flags
