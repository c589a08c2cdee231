"""Two admins deactivating each other at the same moment, through the API and the 用户 page:
the second one waits for the first's lock, finds itself the only active admin's remover and
is refused (409; the page says why in Chinese), so an active admin remains. The first
admin's change is a real transaction held open on the same database (services/users.py).

On PostgreSQL only: there the test sees the request wait for the lock (pg_stat_activity).
SQLite cannot say so, and a request that a loaded machine starts after the first change has
committed is refused as deactivated (401) before it reaches the rule; the same race on SQLite
is tests/test_last_active_admin.py, without HTTP in front of the lock."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.db import transaction
from models.people import User
from services.users import set_active
from tests.api.test_console import add_staff, console_login
from tests.api.test_console_admin_texts import _visible_text
from tests.api.test_login_during_outage import api_token
from tests.conftest import database_params
from tests.test_last_active_admin import _wait_until_waiting_for_a_lock

REFUSED = "admin1 是最后一个启用的管理员，不能停用或改为保安"
POSTGRES_ONLY = pytest.mark.parametrize(
    "database_url", [p for p in database_params() if p.id == "postgres"], indirect=True
)


def _id(services: Any, username: str) -> int:
    with services.sessions() as session:
        found = session.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return int(found)


@POSTGRES_ONLY
@pytest.mark.parametrize("via", ["api", "console"])
def test_the_second_of_two_admins_removing_each_other_is_refused(client: Any, via: str) -> None:
    services = client.app.state.services
    add_staff(services, "admin1", "admin")
    add_staff(services, "admin2", "admin")
    one, two = _id(services, "admin1"), _id(services, "admin2")
    admin2 = TestClient(client.app)
    if via == "api":
        token = api_token(admin2, "admin2", "correct-horse").json()["access_token"]
    else:
        csrf = console_login(admin2, "admin2")
    answer: dict[str, Any] = {}

    def admin2_deactivates_admin1() -> None:
        if via == "api":
            answer["response"] = admin2.patch(
                f"/api/v1/users/{one}", json={"active": False},
                headers={"Authorization": f"Bearer {token}"},
            )
        else:
            answer["response"] = admin2.post(
                f"/console/admin/users/{one}/active",
                data={"active": "false", "csrf_token": csrf}, follow_redirects=False,
            )

    with transaction(services.sessions) as session:  # admin1's own change, not yet committed
        set_active(session, "admin1", two, False)
        racer = threading.Thread(target=admin2_deactivates_admin1)
        racer.start()
        _wait_until_waiting_for_a_lock(services.sessions, racer, services.engine.dialect.name)
    racer.join(timeout=15)
    assert not racer.is_alive()

    response = answer["response"]
    if via == "api":
        assert response.status_code == 409, response.text
        assert response.json()["detail"] == (
            "user 'admin1' is the last active admin; make another account an active admin "
            "first"
        )
    else:
        # Back to the 用户 page with the reason. admin2 is deactivated by now and would land
        # on the login page; the page as admin1 (or anyone) shows it so:
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        assert location.startswith("/console/admin/users?error=")
        office = TestClient(client.app)
        console_login(office, "admin1")
        assert REFUSED in _visible_text(office.get(location).text)
    with services.sessions() as session:
        active_admins = session.scalars(
            select(User.username).where(User.role == "admin", User.active)
        ).all()
    assert active_admins == ["admin1"]
