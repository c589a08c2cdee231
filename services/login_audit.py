"""Logins in the audit log: who came in, by which door, from where, and the failed attempts.

The property office answers "who was on the console when the gate was opened at 02:10" and
"has someone been guessing passwords" from the audit page, not from the application log on
the controller's disk. Each successful login, each wrong password (with the name as typed,
never the password) and each log-out is a row; a failure that starts a pause says how long.
Requests refused by the pause itself are not rows (a guesser would fill the table with them
at no cost); the application log keeps them.

While the database is down the row goes to the audit journal (services/audit_journal.py),
fsynced, and reaches the table with the gate actions of the outage when it answers: who
logged in during an outage matters most. Logins are not published on the event bus: the
guards' live stream has no business showing attempted names and addresses.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from errors import StoreUnavailableError
from models.base import utcnow
from models.db import DATABASE_DOWN, transaction
from models.events import AuditEntry
from services.audit_journal import JournalledAudit
from services.container import Services

logger = logging.getLogger(__name__)

LOGIN = "auth.login"
LOGIN_FAILED = "auth.login_failed"
LOGOUT = "auth.logout"
LOGIN_ACTIONS = (LOGIN, LOGIN_FAILED, LOGOUT)

Door = Literal["console", "api"]

# audit_log.username is this wide; a name typed at the API token endpoint has no limit.
_NAME_WIDTH = 64


def audit_login(
    services: Services,
    action: str,
    username: str,
    *,
    via: Door,
    address: str,
    database_down: bool = False,
    **details: Any,
) -> None:
    """One row for a login, a failed attempt or a log-out. ``database_down``: the caller
    already found the database unreachable, so the entry goes straight to the journal.

    Never raises: a login is not refused because its audit row could not be kept (the
    application log has it, and the error says where it was lost)."""
    if action not in LOGIN_ACTIONS:
        raise ValueError(f"not a login action: {action!r}")
    at = utcnow()
    name = username[:_NAME_WIDTH]
    fields = {"via": via, "address": address, **details}
    if not database_down:
        try:
            with transaction(services.sessions) as session:
                session.add(AuditEntry(at=at, username=name, action=action, details=fields))
            return
        except DATABASE_DOWN:
            pass
        except SQLAlchemyError:
            logger.exception("audit: %s of %r via %s not recorded", action, name, via)
            return
    _journal(services, at, name, action, fields)


def paused(seconds: float) -> dict[str, int]:
    """The detail of a failure that starts a pause, in whole seconds (none: no pause)."""
    return {"paused_s": round(seconds)} if seconds > 0 else {}


def _journal(
    services: Services, at: datetime, name: str, action: str, fields: dict[str, Any]
) -> None:
    journal = services.audit_journal
    if journal is None:
        logger.error("audit: %s of %r during a database outage not recorded: no audit "
                     "journal", action, name)
        return
    entry = JournalledAudit(key=uuid.uuid4().hex, at=at, username=name, action=action,
                            reason="", details=fields)
    try:
        journal.record(entry)
    except StoreUnavailableError as err:
        logger.error("audit: %s of %r during a database outage not recorded: %s",
                     action, name, err)
