"""/healthz counts the guards' gate actions waiting to be written to the audit log.

During a database outage a guard's open moves the barrier and its audit entry waits on disk
(services/audit_journal.py). An operator watching /healthz saw the passages waiting but not
these: an action whose write-back kept failing went unnoticed. The database really goes away
(tests/db_outage.py).
"""

from __future__ import annotations

from typing import Any

from tests.api.test_console import add_staff, cookie_login
from tests.api.test_console_during_outage import open_gate
from tests.api.test_database_outage import FAST, wait_for
from tests.db_outage import DatabaseOutage


def test_healthz_counts_gate_actions_waiting_for_the_database(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    csrf = cookie_login(client, "guard", "guard")
    assert client.get("/healthz").json()["audit_journal_waiting"] == 0

    outage.cut(services.engine)
    for gate in ("main-in", "main-out"):
        opened = open_gate(client, csrf, gate)
        assert opened.status_code == 200 and opened.json()["journal_id"], opened.text
    health = client.get("/healthz").json()
    assert health["status"] == "degraded" and health["database"] is False
    assert health["audit_journal_waiting"] == 2
    assert health["journal_waiting"] == 0  # no car came: the two figures are apart

    outage.restore()
    wait_for(lambda: client.get("/healthz").json()["audit_journal_waiting"] == 0)
    assert not services.audit_waiting()
    wait_for(lambda: client.get("/healthz").json()["status"] == "ok")
