"""Guards' gate actions taken while the database was down: their audit entries, kept on disk.

Every override is audited with who and why, and the audit log is a table. During an outage a
guard still opens the barrier (the car at it cannot wait for the database), so the entry is
appended to this JSON-lines file and fsynced *before* the barrier is driven, the barrier's
answer is appended once it came, and the entry is written to the audit table when the
database answers (:func:`write_back`). Each entry's key becomes the row's unique
``journal_id``: a crash between the write and the trim writes nothing twice, and an entry
leaves this file only once its row is committed. An entry whose barrier had not answered when
the controller stopped is written with the outcome ``pending``, as a passage is.

The passage journal's discipline (services/passage_journal.py): a torn last line left by a
crash is skipped with a warning, trims are atomic, and an entry the database refuses for a
reason other than an outage is moved to ``audit.set-aside.jsonl`` for an administrator
instead of blocking the entries behind it.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.passage_rows import error_line
from errors import StoreUnavailableError
from models.db import outage_as_unavailable, transaction
from models.events import AuditEntry, Passage
from services.disk_space import DiskSpace
from services.passage_journal import (
    append_durably,
    append_with_reserve,
    read_lines,
    replace_durably,
    with_why,
)

logger = logging.getLogger(__name__)

# The audit table's journal_id column is this wide.
KEY_LENGTH = 32
# Logins, failed logins and log-outs (services/login_audit.py) share the journal and the
# table with the gate actions; their actions start with this.
LOGIN_PREFIX = "auth."


@dataclass(frozen=True, slots=True)
class JournalledAudit:
    """One audit entry waiting for the database; ``at`` is when the guard acted."""

    key: str
    at: datetime
    username: str
    action: str
    reason: str
    target: str = ""
    gate_id: str | None = None
    passage_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # A passage decided during the outage has no id yet: an action naming it names its
    # journal id, resolved to its id when written (after the passage journal is).
    passage_journal_id: str | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.key) <= KEY_LENGTH:
            raise ValueError(f"key must be 1–{KEY_LENGTH} characters, got {self.key!r}")
        if self.at.tzinfo is None:
            raise ValueError(f"at must carry a time zone, got {self.at.isoformat()}")


@dataclass(slots=True)
class WriteBack:
    """What one write-back did: the rows written (as the bus's ``audit`` events) and the
    entries the database refused, moved aside (one line each, for the guards' alarm)."""

    written: list[dict[str, Any]] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)


class FileAuditJournal:
    """The audit journal on one local file; safe to call from worker threads."""

    def __init__(self, path: Path, space: DiskSpace | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._space = space  # a full disk gives up its reserve (services/disk_space.py)
        # Begun here and still waiting for their barrier's answer: not written back until
        # it came (or the action ended without one), or the row would miss its outcome.
        self._in_flight: set[str] = set()

    @property
    def set_aside_path(self) -> Path:
        return self.path.with_name(f"{self.path.stem}.set-aside{self.path.suffix}")

    def begin(self, entry: JournalledAudit) -> None:
        """Durable before the barrier moves; :meth:`finish` adds the barrier's answer."""
        with self._lock:
            self._append(_entry_line(entry))
            self._in_flight.add(entry.key)

    def finish(self, key: str, details: dict[str, Any] | None) -> None:
        """The entry's details from now on (its outcome); None: the action ended without
        one, the entry is written as it was begun. Durable."""
        with self._lock:
            try:
                if details is not None:
                    self._append(_details_line(key, details))
            finally:
                self._in_flight.discard(key)

    def withdraw(self, key: str) -> None:
        """A begun entry whose action was not carried out after all (cancelled before its
        barrier was commanded): gone, as if never begun, or its ``pending`` would audit a
        move that cannot have happened. Atomic, as :meth:`discard`."""
        try:
            self.discard({key})
        except OSError as err:
            raise StoreUnavailableError(
                f"the audit journal {self.path} could not be rewritten: {err}"
            ) from err
        finally:
            with self._lock:
                self._in_flight.discard(key)

    def record(self, entry: JournalledAudit) -> None:
        """A whole entry at once (its barrier has answered already). Durable."""
        with self._lock:
            self._append(_entry_line(entry))

    def pending(self) -> list[JournalledAudit]:
        """Every entry waiting, in the order the guards acted."""
        with self._lock:
            return self._read()

    def ready(self) -> list[JournalledAudit]:
        """The entries to write now: all but those whose barrier is still answering."""
        with self._lock:
            return [e for e in self._read() if e.key not in self._in_flight]

    def waiting(self) -> bool:
        """Cheap: whether any entry waits (checked every few seconds)."""
        return self.path.exists()

    def discard(self, keys: set[str]) -> None:
        """Drop the given entries; atomic: a crash leaves the old file or the new one."""
        with self._lock:
            kept = [e for e in self._read() if e.key not in keys]
            if not kept:
                self.path.unlink(missing_ok=True)
                return
            replace_durably(self.path, (_entry_line(e) for e in kept))

    def set_aside(self, entry: JournalledAudit, why: str) -> None:
        """Keep an entry the database refuses in :attr:`set_aside_path` (same format, with
        the reason), then drop it here: a crash in between leaves it in both (written once,
        its key is unique), never in neither."""
        with self._lock:
            append_durably(self.set_aside_path, with_why(_entry_line(entry), why))
        self.discard({entry.key})

    def _append(self, line: str) -> None:
        try:
            append_with_reserve(self.path, line, self._space)
        except OSError as err:
            raise StoreUnavailableError(
                f"database down and the audit journal {self.path} is not writable: {err}"
            ) from err

    def _read(self) -> list[JournalledAudit]:
        if not self.path.exists():
            return []
        entries: dict[str, JournalledAudit] = {}
        later: dict[str, dict[str, Any]] = {}

        def take(data: dict[str, Any]) -> None:
            if data["type"] == "audit":
                fields = dict(data["entry"])
                fields["at"] = datetime.fromisoformat(fields["at"])
                entry = JournalledAudit(**fields)
                entries[entry.key] = entry
            else:
                later[str(data["key"])] = dict(data["details"])

        read_lines(self.path, take, "audit journal")
        return [
            replace(entry, details=later[key]) if key in later else entry
            for key, entry in entries.items()
        ]


def write_back(sessions: sessionmaker[Session], journal: FileAuditJournal) -> WriteBack:
    """Write the journalled entries to the audit table, each in its own transaction, once.

    Raises StoreUnavailableError while the database is still down (what was written so far
    is trimmed from the journal, the rest waits)."""
    result = WriteBack()
    done: set[str] = set()
    try:
        for entry in journal.ready():
            try:
                with outage_as_unavailable(), transaction(sessions) as session:
                    event = _write_entry(session, entry)
            except StoreUnavailableError:
                raise
            except Exception as err:
                result.set_aside.append(_set_aside(journal, entry, err))
                continue
            done.add(entry.key)
            if event is not None:
                result.written.append(event)
    finally:
        if done:
            journal.discard(done)
    return result


def _write_entry(session: Session, entry: JournalledAudit) -> dict[str, Any] | None:
    """The row for one entry, unless it was written before a crash cut the trim; returns
    what the bus publishes for it."""
    written = session.scalar(select(AuditEntry.id).where(AuditEntry.journal_id == entry.key))
    if written is not None:
        return None
    passage_id, details = _checked_link(session, entry)
    row = AuditEntry(
        at=entry.at, username=entry.username, action=entry.action, target=entry.target,
        gate_id=entry.gate_id, passage_id=passage_id, reason=entry.reason, details=details,
        journal_id=entry.key,
    )
    session.add(row)
    session.flush()
    # "at": when the guard acted, not now, and "journal_id": written back, not live: a
    # listener that acts on what happens at a gate now (the gate's screen) leaves it alone
    # (a gate action was published as audit_offline when the guard acted).
    return {"id": row.id, "at": entry.at.isoformat(), "journal_id": entry.key,
            "username": row.username, "action": row.action, "gate_id": row.gate_id,
            "passage_id": passage_id, "reason": row.reason, "details": details}


def _checked_link(session: Session, entry: JournalledAudit) -> tuple[int | None, dict[str, Any]]:
    """The passage the action named, checked now (it could not be while the database was
    down) as an action taken online is: a passage that does not exist, or was at another
    gate, is not linked; what the guard named is kept in the details."""
    named: int | str | None = entry.passage_id
    passage: Passage | None = None
    if entry.passage_journal_id is not None:
        named = entry.passage_journal_id
        passage = session.scalar(
            select(Passage).where(Passage.journal_id == entry.passage_journal_id)
        )
    elif entry.passage_id is not None:
        passage = session.get(Passage, entry.passage_id)
    if named is None:
        return None, dict(entry.details)
    if passage is not None and passage.gate_id == entry.gate_id:
        return passage.id, dict(entry.details)
    why = ("no such passage" if passage is None
           else f"the passage was at gate {passage.gate_id}")
    logger.warning("audit journal: %s by %s named passage %s, not linked: %s",
                   entry.action, entry.username, named, why)
    return None, {**entry.details, "passage_named": named, "not_linked": why}


def _set_aside(journal: FileAuditJournal, entry: JournalledAudit, err: Exception) -> str:
    what = f"{entry.action} by {entry.username} at {entry.at.isoformat(timespec='seconds')}"
    why = error_line(err)
    logger.error("audit journal: %s refused by the database (%s); set aside in %s",
                 what, why, journal.set_aside_path, exc_info=err)
    try:
        journal.set_aside(entry, why)
    except Exception:
        # It stays in the journal, in nobody's way: the next write-back tries it again.
        logger.exception("audit journal: %s could not be set aside; left in the journal", what)
        why += "; could not be moved, still in the journal"
    return f"{what} ({why})"


def _entry_line(entry: JournalledAudit) -> str:
    fields = asdict(entry)
    fields["at"] = entry.at.isoformat()
    return _line({"type": "audit", "entry": fields})


def _details_line(key: str, details: dict[str, Any]) -> str:
    return _line({"type": "details", "key": key, "details": details})


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
