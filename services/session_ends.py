"""Log-outs that a restart does not forget: read back from their audit entries.

A log-out (console session or API bearer token) ends the session in memory at once
(``services.tokens.EndedSessions``, checked on every request). What makes it outlast the
process is its ``auth.logout`` audit entry, which now also names the session and how long its
tokens must be refused:

- ``session``: the SHA-256 of the session id (``services.tokens.session_fingerprint``). The
  audit log is shown on the admin page and exported as CSV; a fingerprint is enough to
  recognise the session's tokens and can never be put into one (the id is not a credential
  either, a token also needs the signature, but nothing in the log needs more than the hash).
- ``refused_until``: when the last token issued for the session expires (ISO 8601, UTC).

At start, and after a start during a database outage once more when the database answers,
``EndedSessions`` is filled from the entries whose ``refused_until`` is still ahead: first
those waiting in the audit journal (a log-out during an outage is fsynced there before it is
answered), then the table's. In that order an entry being written back meanwhile is found in
one of the two: the write-back commits its row before it drops the journal's line.

Why the audit entry and not a table of its own: the entry is written anyway, at every
log-out, with a tested path through a database outage (the journal and its write-back, once,
keyed); a table would need a second such path, and a migration, to say the same thing.

Limits (README "Status"): a log-out whose audit entry could not be kept at all (the database
refused it and the journal was not writable) lives in memory only, and is logged as such;
neither is a log-out in flight when the process dies (ended in memory, its entry not yet
written). Entries deleted from the audit log by hand are forgotten at the next restart. After
a start during an outage, log-outs already in the table are not known until it answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from models.events import AuditEntry
from services.audit_journal import LOGIN_PREFIX, FileAuditJournal
from services.tokens import session_fingerprint

logger = logging.getLogger(__name__)

# Defined here, not in services/login_audit.py (which uses it): that module imports the
# services container, and the container imports this one.
LOGOUT = f"{LOGIN_PREFIX}logout"
# How far back the table is read, at least: the token lifetime may have been lowered since a
# log-out, and its tokens keep the expiry they were issued with. A week of log-outs is a few
# hundred rows.
MIN_LOOKBACK_S = 7 * 86400

Ended = tuple[str, float]  # (session fingerprint, refused until: epoch seconds)


class LogoutDetails(TypedDict, total=False):
    """The keys a log-out adds to its audit entry (passed to ``audit_login`` as ``**details``:
    typed so that mypy knows they cannot be one of its own keywords). Not total: a console
    log-out without a session to end passes none, and entries written before log-outs named
    their session have neither (``ended_from``)."""

    session: str
    refused_until: str


def logout_details(session_id: str, until: float) -> LogoutDetails:
    """What a log-out's audit entry carries so that a restart still refuses the session."""
    return {
        "session": session_fingerprint(session_id),
        "refused_until": datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds"),
    }


def ended_from(details: Mapping[str, Any] | None) -> Ended | None:
    """The session a log-out entry ended; None for an entry written before log-outs named it
    (or one edited by hand into something else)."""
    if not details:
        return None
    fingerprint, until = details.get("session"), details.get("refused_until")
    if not isinstance(fingerprint, str) or not isinstance(until, str):
        return None
    try:
        moment = datetime.fromisoformat(until)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return fingerprint, moment.timestamp()


def recent_logouts(
    sessions: sessionmaker[Session],
    journal: FileAuditJournal | None,
    *,
    read_database: bool,
    lookback_s: float,
    now: float | None = None,
) -> tuple[list[Ended], bool]:
    """The sessions logged out whose tokens may still be presented, and whether the audit
    table was read (False: not asked to, or it could not be; read it again later)."""
    now = time.time() if now is None else now
    found: list[Ended] = []
    if journal is not None and journal.waiting():
        try:
            found += _live(
                (e.details for e in journal.pending() if e.action == LOGOUT), now
            )
        except (OSError, ValueError, KeyError, TypeError) as err:
            logger.error("log-outs in the audit journal %s not read (%s): a copy of a token "
                         "logged out during the outage may be accepted until it expires",
                         journal.path, err)
    if not read_database:
        return found, False
    since = datetime.fromtimestamp(now, UTC) - timedelta(seconds=max(lookback_s,
                                                                      MIN_LOOKBACK_S))
    try:
        with sessions() as session:
            rows = session.scalars(
                select(AuditEntry.details)
                .where(AuditEntry.action == LOGOUT, AuditEntry.at >= since)
            ).all()
    except SQLAlchemyError as err:
        logger.warning("log-outs not read from the audit log yet (%s): read again once the "
                       "database answers", type(err).__name__)
        return found, False
    return found + _live(rows, now), True


def _live(details: Iterable[Mapping[str, Any] | None], now: float) -> list[Ended]:
    ended = (ended_from(d) for d in details)
    return [e for e in ended if e is not None and e[1] > now]
