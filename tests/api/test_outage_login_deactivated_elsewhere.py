"""An account deactivated where this process did not see it (SQL, another tool) and then
refused a login while the database answered is forgotten: it cannot log in during a later
outage on the password it had. The console's own deactivation forgets it at once; this is
the other way an account stops being active."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from models.db import transaction
from models.people import User
from tests.api.test_console import PASSWORD, add_staff, console_login
from tests.api.test_database_outage import FAST
from tests.api.test_login_during_outage import REFUSED_DURING_OUTAGE, api_token, login_form
from tests.db_outage import DatabaseOutage


def test_deactivated_in_the_database_then_refused_is_not_let_in_during_an_outage(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    add_staff(services, "admin", "admin")
    console_login(TestClient(client.app), "guard")  # seen active by this process
    console_login(TestClient(client.app), "admin")
    with transaction(services.sessions) as session:
        session.execute(update(User).where(User.username == "guard").values(active=False))

    refused = login_form(TestClient(client.app), "guard", PASSWORD)  # the database answers
    assert refused.status_code == 401 and REFUSED_DURING_OUTAGE not in refused.text

    outage.cut(services.engine)
    browser = TestClient(client.app)
    during = login_form(browser, "guard", PASSWORD)
    assert during.status_code == 401, during.headers
    assert REFUSED_DURING_OUTAGE in during.text
    assert "parkgate_session" not in browser.cookies
    assert api_token(browser, "guard", PASSWORD).status_code == 401
    # An account still active is not forgotten by someone else's refusal.
    assert login_form(TestClient(client.app), "admin", PASSWORD).status_code == 303
    outage.restore()


def test_a_wrong_password_for_an_active_account_does_not_forget_it(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """A guesser's wrong password must not lock the guard out of the outage login."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "guard", "guard")
    console_login(TestClient(client.app), "guard")
    assert login_form(TestClient(client.app), "guard", "wrong-horse").status_code == 401

    outage.cut(services.engine)
    assert login_form(TestClient(client.app), "guard", PASSWORD).status_code == 303
    outage.restore()
