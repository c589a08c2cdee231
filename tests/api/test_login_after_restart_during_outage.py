"""Guards can log in to a controller that restarted while its database was down.

A power cut that takes the controller down often takes the database server with it, and the
controller is back first: that is when the guards need the booth page. The active staff
accounts (name, role, argon2 hash) are kept next to the passage journal and refreshed from the
database; the outage is real (tests/db_outage.py) and the restart a new app on the same data
directory.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.api.test_console import PASSWORD, add_staff, csrf_of
from tests.api.test_console_during_outage import open_gate
from tests.api.test_database_outage import FAST, wait_for
from tests.api.test_login_during_outage import REFUSED_DURING_OUTAGE, api_token, login_form
from tests.api.test_start_during_outage import stop
from tests.conftest import services_of
from tests.db_outage import DatabaseOutage


def restart_during_an_outage(app_factory: Any, outage: DatabaseOutage) -> TestClient:
    """A controller that knew guard "night" (never logged in) stops during an outage and
    starts again while it lasts."""
    first = app_factory(database_url=outage.url, **FAST)
    services = first.app.state.services
    add_staff(services, "night", "guard")
    first.portal.call(services.refresh_staff)
    outage.cut(services.engine)
    stop(first)
    return app_factory(database_url=outage.url, **FAST)


def test_a_guard_logs_in_and_opens_a_gate_after_a_restart_during_an_outage(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = restart_during_an_outage(app_factory, outage)
    services = services_of(client)
    assert not services.database_ready

    assert login_form(client, "night", "wrong-password").status_code == 401
    logged_in = login_form(client, "night", PASSWORD)
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/console"
    page = client.get("/console")
    assert page.status_code == 200 and 'id="outage-banner"' in page.text
    opened = open_gate(client, csrf_of(page.text), "main-in")
    assert opened.status_code == 200, opened.text
    assert opened.json()["journal_id"]  # audited in the journal until the database is back
    token = api_token(TestClient(client.app), "night", PASSWORD)
    assert token.status_code == 200 and token.json()["role"] == "guard"

    outage.restore()
    wait_for(lambda: services.database_ready and not services.audit_waiting())


def test_with_offline_logins_off_nobody_logs_in_after_such_a_restart(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    off = {"access": {**FAST["access"], "offline_logins": False}}
    first = app_factory(database_url=outage.url, **off)
    services = first.app.state.services
    journal = services.settings.data_dir / "journal"
    add_staff(services, "night", "guard")
    first.portal.call(services.refresh_staff)
    assert "night" in services.staff  # known while this process runs...
    assert not (journal / "staff_accounts.json").exists()  # ...and never written down
    outage.cut(services.engine)
    stop(first)

    client = app_factory(database_url=outage.url, **off)
    refused = login_form(client, "night", PASSWORD)
    assert refused.status_code == 401 and REFUSED_DURING_OUTAGE in refused.text
    assert api_token(TestClient(client.app), "night", PASSWORD).status_code == 401
    outage.restore()
    wait_for(lambda: client.app.state.services.database_ready)
    assert login_form(TestClient(client.app), "night", PASSWORD).status_code == 303
