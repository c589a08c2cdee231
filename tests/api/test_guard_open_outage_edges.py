"""A guard's open naming a passage during a database outage, from review of 4624661: what the
gates count meanwhile must be what the write-back counts, for every way in.

The database really goes away (tests/db_outage.py); barriers are the simulated driver.
"""

from __future__ import annotations

from typing import Any

from hardware.simulated import SimFault
from tests.api.test_console import add_staff
from tests.api.test_credentials import present
from tests.api.test_credentials_security import household, new_pass, qr_of
from tests.api.test_database_outage import FAST, wait_for
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
