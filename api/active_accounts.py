"""Whether a staff account is still active, and what stands for that answer during an outage.

Every request asks the database, so a deactivated guard loses access at once rather than when
the token expires. While the database is down that question cannot be asked. What the guards
need most then needs no database then: the alarm list (the unstored alarms come from the
journal), the booth page with its gate strip, gate actions (audited in the audit journal) and
the event stream. Those alone accept the valid session or token of an account this process
last saw active. Nothing else is trusted: after a restart during an outage nobody is known
yet, and an account the database answered inactive or missing is forgotten at once.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.db import DATABASE_DOWN
from models.people import User


class LastSeenActive:
    """The accounts whose last answer from the database was "active", in this process."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._lock = threading.Lock()  # sync routes run in worker threads

    def note(self, username: str, active: bool) -> None:
        with self._lock:
            if active:
                self._names.add(username)
            else:
                self._names.discard(username)

    def __contains__(self, username: object) -> bool:
        with self._lock:
            return username in self._names


def last_seen_active(app_state: Any) -> LastSeenActive:
    """The app's one memory (``request.app.state``), made on first use."""
    memory: LastSeenActive | None = getattr(app_state, "last_seen_active", None)
    if memory is None:
        memory = app_state.last_seen_active = LastSeenActive()
    return memory


def account_active(
    app_state: Any, sessions: sessionmaker[Session], username: str, *,
    during_outage: bool = False,
) -> bool:
    """The database's answer, remembered. With ``during_outage``, a database that cannot be
    reached answers with the last answer remembered for an active account; otherwise (and
    for an account not remembered) its error propagates: the caller's 503."""
    memory = last_seen_active(app_state)
    try:
        with sessions() as session:
            active = bool(
                session.scalar(select(User.active).where(User.username == username))
            )
    except DATABASE_DOWN:
        if during_outage and username in memory:
            _database_found_down(app_state)
            return True
        raise
    memory.note(username, active)
    return active


def _database_found_down(app_state: Any) -> None:
    """Trip the gates' short breaker, as a gate that found the database down does: the
    guard's gate action then journals its audit entry before the barrier moves, and the
    next cars go offline at once, instead of each waiting on the database again."""
    services = getattr(app_state, "services", None)
    runtime = getattr(services, "runtime", None)
    if runtime is not None:
        runtime.mark_database_unavailable()
