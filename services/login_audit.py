"""Logins in the audit log: who came in, by which door, from where, and the failed attempts.

The property office answers "who was on the console when the gate was opened at 02:10" and
"has someone been guessing passwords" from the audit page, not from the application log on
the controller's disk. Each successful login, each wrong password (never the password) and
each log-out is a row; a failure that starts a pause says how long. A failure at a name that
is an account however it was typed ("GUARD1", full width) is filed under that account, with
the name as typed in the details, so the account's login records show every guess at it.
Requests refused by the pause itself are not rows (a guesser would fill the table with them
at no cost); the application log keeps them.

While the database is down the row goes to the audit journal (services/audit_journal.py),
fsynced, and reaches the table with the gate actions of the outage when it answers: who
logged in during an outage matters most. Failed logins are capped there, since anyone who
reaches the login page can cause them and the guards' gate actions share that file. Logins
are never published on the event bus: the guards' live stream has no business showing
attempted names and addresses.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
import uuid
import weakref
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from errors import StoreUnavailableError
from models.base import utcnow
from models.db import DATABASE_DOWN, transaction
from models.events import AuditEntry
from models.people import User, username_key
from services.audit_journal import LOGIN_PREFIX, FileAuditJournal, JournalledAudit
from services.container import Services
from services.session_ends import LOGOUT

logger = logging.getLogger(__name__)

LOGIN = f"{LOGIN_PREFIX}login"
LOGIN_FAILED = f"{LOGIN_PREFIX}login_failed"
LOGIN_ACTIONS = (LOGIN, LOGIN_FAILED, LOGOUT)
# The alarm raised when one address is paused for failing at many names.
LOGIN_GUESSING = "login_guessing"

Door = Literal["console", "api"]

# audit_log.username is this wide; a name typed at the API token endpoint has no limit.
_NAME_WIDTH = 64
# Failed logins journalled during one outage (until the journal is written back): enough to
# see a guessing attempt, too few to slow the guards' gate actions sharing the file.
JOURNALLED_FAILURES_LIMIT = 200


class _FailureBudget:
    """How many failed logins went to the journal since it was last empty."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used = 0

    def take(self, journal_empty: bool) -> bool:
        with self._lock:
            if journal_empty:
                self._used = 0
            if self._used >= JOURNALLED_FAILURES_LIMIT:
                return False
            self._used += 1
            return True


# One per journal (a process has one; tests build many).
_budgets: weakref.WeakKeyDictionary[FileAuditJournal, _FailureBudget] = (
    weakref.WeakKeyDictionary()
)
_budgets_lock = threading.Lock()


def _budget(journal: FileAuditJournal) -> _FailureBudget:
    with _budgets_lock:
        return _budgets.setdefault(journal, _FailureBudget())


def printable_name(name: str) -> str:
    """The name as typed, with control and invisible format characters written as escapes
    (NUL, a right-to-left override, a zero-width space): real usernames have none, and
    stored raw they would let a typed name pass for another one on the audit page, or be
    refused by PostgreSQL (NUL). Cut to the column's width."""
    shown = "".join(
        f"\\u{ord(ch):04x}" if unicodedata.category(ch).startswith("C") else ch for ch in name
    )
    return shown[:_NAME_WIDTH]


def audit_login(
    services: Services,
    action: str,
    username: str,
    *,
    via: Door,
    address: str,
    database_down: bool = False,
    **details: Any,
) -> bool:
    """One row for a login, a failed attempt or a log-out. ``database_down``: the caller
    already found the database unreachable, so the entry goes straight to the journal.
    Returns whether the entry was kept (in the table or the journal): a log-out whose entry
    was not is known to this process only (services/session_ends.py).

    Never raises: a login is not refused because its audit row could not be kept (the
    application log has it, and the error says where it was lost)."""
    if action not in LOGIN_ACTIONS:
        raise ValueError(f"not a login action: {action!r}")
    at = utcnow()
    name = printable_name(username)
    fields = {"via": via, "address": address, **details}
    if not database_down and not services.runtime.database_suspect():
        try:
            with transaction(services.sessions) as session:
                account = _account_named(session, username) if action == LOGIN_FAILED else None
                if account is not None and account != name:
                    fields["typed"] = name
                session.add(AuditEntry(at=at, username=account or name, action=action,
                                       details=fields))
            return True
        except DATABASE_DOWN:
            pass
        except SQLAlchemyError:
            logger.exception("audit: %s of %r via %s not recorded", action, name, via)
            return False
    return _journal(services, at, name, action, fields)


def _account_named(session: Any, typed: str) -> str | None:
    """The account a login at ``typed`` was checked against, as the users page names it."""
    found = session.scalar(select(User.username).where(User.username_key == username_key(typed)))
    return str(found) if found is not None else None


def recent_failures(services: Services, window_s: float) -> list[tuple[str, str, float]]:
    """The failed logins of the last ``window_s`` seconds as (address, name as typed, seconds
    ago), oldest first, for the login throttle of a process that just started; none while
    the database cannot be read (the throttle then starts empty, as it always did)."""
    if services.runtime.database_suspect():
        return []
    now = utcnow()
    try:
        with services.sessions() as session:
            rows = session.execute(
                select(AuditEntry.at, AuditEntry.username, AuditEntry.details)
                .where(AuditEntry.action == LOGIN_FAILED,
                       AuditEntry.at >= now - timedelta(seconds=window_s))
                .order_by(AuditEntry.at)
            ).all()
    except SQLAlchemyError as err:
        logger.warning("login throttle starts empty: failed logins not read (%s)",
                       type(err).__name__)
        return []
    return [
        (str(details.get("address", "?")), str(details.get("typed", name)),
         (now - at).total_seconds())
        for at, name, details in rows
    ]


async def alarm_guessing(services: Services, address: str, failures: int) -> None:
    """Tell the guards (and the audit page's admins) that one address is guessing: its
    logins are paused now, and a person at the booth network may be behind it. The names
    tried stay in the audit log, off the booth screen."""
    await services.runtime.raise_alarm(
        LOGIN_GUESSING,
        f"{failures} failed logins from {address} within a few minutes, at several names: "
        "logins from there are paused; see the audit log (登录失败)",
    )


def paused(seconds: float) -> dict[str, int]:
    """The detail of a failure that starts a pause, in whole seconds (none: no pause)."""
    return {"paused_s": round(seconds)} if seconds > 0 else {}


def _journal(
    services: Services, at: datetime, name: str, action: str, fields: dict[str, Any]
) -> bool:
    journal = services.audit_journal
    if journal is None:
        logger.error("audit: %s of %r during a database outage not recorded: no audit "
                     "journal", action, name)
        return False
    if action == LOGIN_FAILED and not _budget(journal).take(journal_empty=not journal.waiting()):
        logger.warning("audit: failed login of %r from %s during a database outage not "
                       "journalled: %d already wait", name, fields.get("address"),
                       JOURNALLED_FAILURES_LIMIT)
        return False
    entry = JournalledAudit(key=uuid.uuid4().hex, at=at, username=name, action=action,
                            reason="", details=fields)
    try:
        journal.record(entry)
    except StoreUnavailableError as err:
        logger.error("audit: %s of %r during a database outage not recorded: %s",
                     action, name, err)
        return False
    return True


def last_logins(session: Session, username: str | None = None) -> dict[str, datetime]:
    """Each account's latest login, by name (the 用户 page's 上次登录, /api/v1/users'
    ``last_login``): a guard who left and still has an account shows there. ``username``:
    that account's only."""
    query = select(AuditEntry.username, func.max(AuditEntry.at)).where(AuditEntry.action == LOGIN)
    if username is not None:
        query = query.where(AuditEntry.username == username)
    return {name: at for name, at in session.execute(query.group_by(AuditEntry.username))}
