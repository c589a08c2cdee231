"""A guard's open naming a passage during a database outage, from review of 4624661: what the
gates count meanwhile must be what the write-back counts, for every way in.

The database really goes away (tests/db_outage.py); barriers are the simulated driver.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from controllers.ports import ADMISSION_UNDONE
from hardware.simulated import SimFault
from models.events import Passage
from models.vehicles import Presence
from services.passage_journal import FilePassageJournal
from tests.api.test_console import add_staff
from tests.api.test_credentials import present
from tests.api.test_credentials_security import household, new_pass, qr_of
from tests.api.test_database_outage import FAST, RESIDENT, push, wait_for
from tests.api.test_vehicle_entry import free_in_zone, register_resident_car
from tests.db_outage import DatabaseOutage

REASON = "闸机故障，人工放行"


def test_a_visitor_qr_the_guard_let_through_offline_has_used_its_one_use(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The pedestrian gate's QR check counts a pass's uses offline on its own (the offline
    credentials), and gives a use back when the gate did not open. A guard's open naming
    that passage counted the use again for the car gates only: the single-use code then
    opened the gate a second time during the outage, and the pass read 2 uses after it."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    pass_id = new_pass(client, admin, "粤B46666", household(client, admin))
    code = qr_of(client, admin, pass_id)
    client.portal.call(services.refresh_offline)
    assert client.get("/api/v1/gates", headers=guard).status_code == 200
    outage.cut(services.engine)

    services.barriers["ped-1"].inject_fault(SimFault.OFFLINE)
    stuck = present(client, {"kind": "qr", "code": code}).json()
    services.barriers["ped-1"].clear_faults()
    assert (stuck["decision"], stuck["barrier"]) == ("allow", "fault"), stuck
    opened = client.post("/api/v1/gates/ped-1/actions", headers=guard, json={
        "action": "open", "reason": REASON, "passage_journal_id": stuck["journal_id"]})
    assert opened.status_code == 200, opened.text
    assert opened.json()["admission"] == "redone"
    again = present(client, {"kind": "qr", "code": code}).json()
    assert (again["decision"], again["reason"]) == ("deny", "pass_used_up"), again

    outage.restore()
    wait_for(lambda: not services.runtime.journal_waiting() and not services.audit_waiting())
    assert client.get(f"/api/v1/passes/{pass_id}", headers=admin).json()["uses"] == 1


def test_an_open_journalled_in_the_outage_does_not_undo_a_later_open_made_once_it_is_back(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """The guard's open naming a stored passage failed during the outage (journalled:
    fault); the database back, the guard opened again for it before the background
    write-back ran (it waits up to offline_retry_s), and that open counted the car. The
    write-back then wrote the older failed open over it: the car inside, taken out of the
    zone count and presence (its exit an unrecorded one, its return counted twice)."""
    client = app_factory(database_url=outage.url,
                         access={"offline_refresh_s": 60, "offline_retry_s": 60})
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.refresh_offline)
    assert client.get("/api/v1/gates", headers=guard).status_code == 200
    free_before = free_in_zone(client, "A")
    barrier = services.barriers["main-in"]
    barrier.inject_fault(SimFault.OFFLINE)
    failed = push(client, "main-in", RESIDENT).json()
    assert (failed["decision"], failed["barrier"]) == ("allow", "fault"), failed
    passage_id = int(failed["passage_id"])

    outage.cut(services.engine)
    refused = client.post("/api/v1/gates/main-in/actions", headers=guard, json={
        "action": "open", "reason": REASON, "passage_id": passage_id})
    assert refused.status_code == 503, refused.text  # the barrier failed again
    barrier.clear_faults()
    assert FilePassageJournal(
        services.settings.data_dir / "journal" / "passages.jsonl").backlog().reopens

    outage.restore()
    services.runtime._offline_until = 0.0  # the breaker's few seconds have passed
    opened = client.post("/api/v1/gates/main-in/actions", headers=guard, json={
        "action": "open", "reason": REASON, "passage_id": passage_id})
    assert opened.status_code == 200, opened.text
    assert opened.json()["admission"] == "redone" and opened.json()["audit_id"] is not None
    client.portal.call(services.runtime.replay_journal)
    wait_for(lambda: not services.runtime.journal_waiting())

    with services.sessions() as session:
        row = session.get(Passage, passage_id)
        assert row is not None
        assert row.barrier_outcome == opened.json()["state"]
        assert ADMISSION_UNDONE not in row.flags
        inside = session.scalar(select(Presence.passage_id).where(Presence.plate == RESIDENT))
    assert inside == passage_id
    assert free_in_zone(client, "A") == free_before - 1


def test_a_second_open_of_a_stored_passage_during_the_outage_counts_nothing(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """As online, where the first open clears admission_undone: the stored row on the booth
    page still offers 「人工开闸放行」 during the outage (nothing tells it), and pressed again
    after the car had left it counted the car inside once more for the gates: hard
    anti-passback refused the resident coming back, while the write-back (rightly) counted
    nothing."""
    client = app_factory(database_url=outage.url,
                         access={**FAST["access"], "anti_passback": "hard"})
    services = client.app.state.services
    admin = add_staff(services, "admin", "admin")
    guard = add_staff(services, "guard", "guard")
    register_resident_car(client, admin, RESIDENT)
    client.portal.call(services.refresh_offline)
    assert client.get("/api/v1/gates", headers=guard).status_code == 200
    barrier = services.barriers["main-in"]
    barrier.inject_fault(SimFault.OFFLINE)
    failed = push(client, "main-in", RESIDENT).json()
    barrier.clear_faults()
    assert (failed["decision"], failed["barrier"]) == ("allow", "fault"), failed

    def guard_opens() -> dict[str, Any]:
        response = client.post("/api/v1/gates/main-in/actions", headers=guard, json={
            "action": "open", "reason": REASON, "passage_id": failed["passage_id"]})
        assert response.status_code == 200, response.text
        return dict(response.json())

    outage.cut(services.engine)
    assert guard_opens()["admission"] == "redone"
    left = push(client, "main-out", RESIDENT).json()
    assert (left["decision"], left["reason"]) == ("allow", "exit_known_inside"), left
    assert guard_opens()["admission"] is None
    back = push(client, "main-in", RESIDENT).json()
    assert back["decision"] == "allow" and back["barrier"] in ("opening", "open"), back
    outage.restore()
    wait_for(lambda: not services.runtime.journal_waiting() and not services.audit_waiting())
