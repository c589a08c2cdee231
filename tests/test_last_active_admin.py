"""An active admin always remains (services/users.py): the last one cannot be deactivated or
demoted by anyone, and two admins deactivating or demoting each other at the same moment
cannot both succeed. Real databases, real concurrent transactions, no mocks."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from errors import ConflictError
from models.db import transaction
from models.people import User
from services.users import create_user, last_admin_message, set_active, set_role

PASSWORD = "Gate-Wf-0519"


def _accounts(sessions: sessionmaker[Session], *names_and_roles: tuple[str, str]) -> list[int]:
    with transaction(sessions) as session:
        users = [create_user(session, name, PASSWORD, role) for name, role in names_and_roles]
        return [user.id for user in users]


def _active_admins(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(
            select(User.username).where(User.role == "admin", User.active).order_by(User.id)
        ))


@pytest.mark.parametrize("change", ["deactivate", "demote"])
def test_the_last_active_admin_cannot_be_deactivated_or_demoted(
    sessions: sessionmaker[Session], change: str
) -> None:
    """Serially an admin cannot do it through the API or the page (not their own account,
    and acting makes them an active admin too); the rule is what holds when they race, and
    for any other caller of the service."""
    admin, guard, successor, retired = _accounts(
        sessions, ("admin", "admin"), ("guard1", "guard"), ("guard2", "guard"),
        ("admin0", "admin"),
    )
    with transaction(sessions) as session:
        set_active(session, "admin", retired, False)  # an inactive admin is nobody's admin

    def do(user_id: int) -> None:
        with transaction(sessions) as session:
            if change == "deactivate":
                set_active(session, "office-script", user_id, False)
            else:
                set_role(session, "office-script", user_id, "guard")

    with pytest.raises(ConflictError) as refused:
        do(admin)
    assert str(refused.value) == last_admin_message("admin")
    assert "last active admin" in str(refused.value)
    assert _active_admins(sessions) == ["admin"]

    do(guard)  # a guard's account is not the rule's business
    with transaction(sessions) as session:  # a second active admin: now the first may go
        set_role(session, "admin", successor, "admin")
    do(admin)
    assert _active_admins(sessions) == ["guard2"]


def _wait_until_waiting_for_a_lock(sessions: sessionmaker[Session], racer: threading.Thread,
                                   dialect: str) -> None:
    """Until the racing transaction waits for the lock the first one holds. PostgreSQL says
    so (pg_stat_activity); SQLite cannot, so there the racer is given half a second, far more
    than its read takes: without the lock it would have read the admins by then."""
    if dialect != "postgresql":
        time.sleep(0.5)
        assert racer.is_alive(), "the racing change did not wait for the first one"
        return
    deadline = time.monotonic() + 10
    with sessions() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            ))
            watcher.rollback()  # a fresh snapshot of the statistics each time
            if waiting:
                return
            assert racer.is_alive(), "the racing change did not wait for the first one"
            time.sleep(0.02)
    raise AssertionError("the racing change never waited for the first one's lock")


@pytest.mark.parametrize("second", ["deactivate", "demote"])
def test_two_admins_removing_each_other_at_once_leave_one(
    sessions: sessionmaker[Session], second: str
) -> None:
    """admin1 deactivates admin2 while admin2 deactivates (or demotes) admin1: each saw the
    other active, and both changes committed, leaving nobody to manage staff accounts."""
    one, two = _accounts(sessions, ("admin1", "admin"), ("admin2", "admin"))
    dialect = sessions.kw["bind"].dialect.name
    outcome: dict[str, Any] = {}

    def admin2_acts() -> None:
        try:
            with transaction(sessions) as session:
                if second == "deactivate":
                    set_active(session, "admin2", one, False)
                else:
                    set_role(session, "admin2", one, "guard")
            outcome["done"] = True
        except ConflictError as err:
            outcome["refused"] = err

    with transaction(sessions) as session:
        set_active(session, "admin1", two, False)  # holds its locks until the commit
        racer = threading.Thread(target=admin2_acts)
        racer.start()
        _wait_until_waiting_for_a_lock(sessions, racer, dialect)
    racer.join(timeout=15)

    assert not racer.is_alive()
    assert "done" not in outcome, "both admins were removed"
    assert str(outcome["refused"]) == last_admin_message("admin1")
    assert _active_admins(sessions) == ["admin1"]
