"""Reactivating a staff account does not bring back the sessions and tokens it had before it
was deactivated.

Deactivating ended them at once (each request asks whether the account is active), but
reactivating made every one issued before the deactivation valid again until it expired
(12 hours): a token stolen from a guard who left worked again once the account was given
back, to the same guard or to a successor. Each change moves the account's sessions
generation, which tokens carry in their password stamp (services/passwords.py): in the
database, in the staff file for logins during an outage, and after a restart.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from fastapi.testclient import TestClient

from api.console.security import SESSION_COOKIE
from models.db import transaction
from models.people import User
from tests.api.test_console import PASSWORD, add_staff, console_login
from tests.api.test_database_outage import FAST
from tests.api.test_login_during_outage import api_token
from tests.api.test_start_during_outage import stop
from tests.conftest import add_user
from tests.db_outage import DatabaseOutage

GATES = "/api/v1/gates"  # a guard's route, which works during a database outage too


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _id(services: Any, username: str) -> int:
    with transaction(services.sessions) as session:
        found = session.query(User.id).filter(User.username == username).scalar()
    assert found is not None
    return int(found)


def _console_set_active(admin: Any, csrf: str, user_id: int, active: bool) -> None:
    done = admin.post(f"/console/admin/users/{user_id}/active",
                      data={"active": str(active).lower(), "csrf_token": csrf},
                      follow_redirects=False)
    assert done.status_code == 303 and "error" not in done.headers["location"]


def _logged_out(browser: TestClient) -> bool:
    page = browser.get("/console", follow_redirects=False)
    return page.status_code == 303 and "/console/login" in page.headers["location"]


def test_old_tokens_and_sessions_stay_ended_after_reactivation_and_a_restart(
    app_factory: Any,
) -> None:
    first = app_factory()
    services = first.app.state.services
    admin = _bearer(add_user(first, "admin", "admin"))
    stolen = add_user(first, "guard1", "guard")  # logged in through the API: carries a stamp
    booth = TestClient(first.app)
    console_login(booth, "guard1", "correct-horse")
    guard = _id(services, "guard1")
    assert first.get(GATES, headers=_bearer(stolen)).status_code == 200

    # The guard leaves (停用); later the account is given back (启用), through the API.
    for active in (False, True):
        changed = first.patch(f"/api/v1/users/{guard}", json={"active": active}, headers=admin)
        assert changed.status_code == 200 and changed.json()["active"] is active
    refused = first.get(GATES, headers=_bearer(stolen))
    assert refused.status_code == 401, refused.text
    assert _logged_out(booth)
    # The account itself works again: a new login, with the same password.
    second = api_token(first, "guard1", "correct-horse")
    assert second.status_code == 200
    newer = second.json()["access_token"]
    assert first.get(GATES, headers=_bearer(newer)).status_code == 200

    # The same through the console's 用户 page: the token from after the first reactivation
    # ends with the next deactivation and stays ended after 启用.
    office = TestClient(first.app)
    csrf = console_login(office, "admin", "correct-horse")
    _console_set_active(office, csrf, guard, False)
    _console_set_active(office, csrf, guard, True)
    assert first.get(GATES, headers=_bearer(newer)).status_code == 401
    third = api_token(first, "guard1", "correct-horse").json()["access_token"]

    stop(first)
    restarted = app_factory()
    for token in (stolen, newer):
        assert restarted.get(GATES, headers=_bearer(token)).status_code == 401
    assert restarted.get(GATES, headers=_bearer(third)).status_code == 200


def test_old_tokens_stay_ended_during_an_outage_and_a_restart_during_it(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """While the database is down the token is checked against the staff file, which knows
    the account's generation: one issued before the deactivation is refused there too."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    add_staff(services, "admin", "admin")
    add_staff(services, "guard", "guard")
    stolen = api_token(client, "guard", PASSWORD).json()["access_token"]
    csrf = console_login(client, "admin")
    guard = _id(services, "guard")
    _console_set_active(client, csrf, guard, False)
    _console_set_active(client, csrf, guard, True)
    current = api_token(TestClient(client.app), "guard", PASSWORD).json()["access_token"]
    client.portal.call(services.refresh_staff)  # as the offline loop does every 30 s

    outage.cut(services.engine)
    refused = client.get(GATES, headers=_bearer(stolen))
    assert refused.status_code == 401, refused.text
    assert client.get(GATES, headers=_bearer(current)).status_code == 200

    stop(client)
    restarted = app_factory(database_url=outage.url, **FAST)  # the staff file, from disk
    assert restarted.app.state.services.staff.get("guard") is not None
    assert restarted.get(GATES, headers=_bearer(stolen)).status_code == 401
    assert restarted.get(GATES, headers=_bearer(current)).status_code == 200
    outage.restore()


def test_sessions_an_older_parkgate_issued_stay_ended_after_reactivation(
    app_factory: Any,
) -> None:
    """Found walking an upgrade from 75f9eb8: its tokens and console cookies carry no password
    stamp ({"sub", "role", "exp"}), are signed with the same key and so stay logged in across
    the upgrade, as a guard at the booth expects. Deactivating the account ended them, but
    reactivating it brought them back: a stamp-less token was taken as matching any
    generation."""
    client = app_factory()
    services = client.app.state.services
    admin = _bearer(add_user(client, "admin", "admin"))
    add_user(client, "guard1", "guard")
    guard = _id(services, "guard1")
    # What 75f9eb8 issued at login, API token and console cookie alike.
    old = services.signer.issue("guard1", "guard")
    body = old.partition(".")[0]
    assert set(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))) == {
        "sub", "role", "exp"}
    booth = TestClient(client.app)
    booth.cookies.set(SESSION_COOKIE, old)
    assert client.get(GATES, headers=_bearer(old)).status_code == 200
    assert not _logged_out(booth)

    for active in (False, True):
        changed = client.patch(f"/api/v1/users/{guard}", json={"active": active}, headers=admin)
        assert changed.status_code == 200 and changed.json()["active"] is active

    refused = client.get(GATES, headers=_bearer(old))
    assert refused.status_code == 401, refused.text
    assert _logged_out(booth)
    # The account works again with a new login, and a token of an account never deactivated
    # is still taken: the upgrade itself logs nobody out.
    assert api_token(client, "guard1", "correct-horse").status_code == 200
    assert client.get(GATES, headers=_bearer(services.signer.issue("admin", "admin"))
                      ).status_code == 200


def test_an_older_parkgates_console_session_ends_at_a_password_reset_once_renewed(
    app_factory: Any,
) -> None:
    """Found walking the same upgrade: a console cookie from before it carries no stamp, and a
    renewal (every page a guard opens) kept it stamp-less for as long as the guard used it, so
    resetting that guard's password never ended it. Renewed now, it takes the account's stamp,
    and the reset ends it at the next page."""
    client = app_factory()
    services = client.app.state.services
    admin = _bearer(add_user(client, "admin", "admin"))
    add_user(client, "guard1", "guard")
    booth = TestClient(client.app)
    booth.cookies.set(SESSION_COOKIE, services.signer.issue("guard1", "guard"))
    page = booth.get("/console")  # the sliding renewal
    assert page.status_code == 200
    renewed = services.signer.verify(page.cookies[SESSION_COOKIE])
    assert renewed.password_stamp is not None
    assert not _logged_out(booth)

    reset = client.post(f"/api/v1/users/{_id(services, 'guard1')}/password",
                        json={"password": "a-new-horse-battery"}, headers=admin)
    assert reset.status_code == 204, reset.text
    assert _logged_out(booth)
