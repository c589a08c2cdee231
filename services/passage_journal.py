"""The local journal of passages decided while the database was unreachable.

A JSON-lines file next to the snapshots: one ``passage`` line per passage, appended and
fsynced before the barrier moves, and one ``outcome`` line once the barrier answered. The
gate runtime writes the entries to the database when it answers again and then trims them
here; a passage leaves this file only after its row is committed, so neither a database
outage nor a crash of the controller loses it. A ``passage_outcome`` line keeps the barrier
outcome of a passage that *was* committed when the database went away before its outcome
could be written, an ``alarm`` line an alarm raised meanwhile (a barrier fault), and a
``guard_open`` line a guard's open naming a passage (by its id, or a journalled one by its
journal id), written to that passage as an online open would be.

A crash while appending can leave a torn last line; it is skipped with a warning (its
barrier had not been driven yet, the append being the step before) and the next append
starts on a fresh line.

An entry the database refuses for a reason other than an outage (a constraint, a bug) would
stop the write-back at itself on every retry, and with it every car behind it: it is moved
to a second file next to this one (``passages.set-aside.jsonl``), in this same format (each
line also says why), and kept there for an operator, never retried on its own.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from controllers.ports import (
    GuardOpen,
    JournalBacklog,
    JournalEntry,
    PassageRecord,
    PendingAlarm,
)
from controllers.values import AccessDecision, Credential, Direction, Reason, Sighting, Verdict
from errors import StoreUnavailableError
from services.disk_space import DiskSpace

logger = logging.getLogger(__name__)


def record_to_json(record: PassageRecord) -> dict[str, Any]:
    sighting = asdict(record.sighting)
    sighting["at"] = record.sighting.at.isoformat()
    decision = asdict(record.decision)
    decision["flags"] = list(record.decision.flags)
    return {
        "journal_id": record.journal_id,
        "gate_id": record.gate_id,
        "direction": str(record.direction),
        "zone_id": record.zone_id,
        "snapshot_path": record.snapshot_path,
        "details": record.details,
        "sighting": sighting,
        "decision": decision,
    }


def record_from_json(data: dict[str, Any]) -> PassageRecord:
    sighting = dict(data["sighting"])
    sighting["at"] = datetime.fromisoformat(sighting["at"])
    decision = dict(data["decision"])
    decision.update(
        verdict=Verdict(decision["verdict"]),
        reason=Reason(decision["reason"]),
        credential=Credential(decision["credential"]),
        flags=tuple(decision["flags"]),
    )
    return PassageRecord(
        gate_id=data["gate_id"],
        direction=Direction(data["direction"]),
        zone_id=data["zone_id"],
        sighting=Sighting(**sighting),
        decision=AccessDecision(**decision),
        snapshot_path=data["snapshot_path"],
        details=dict(data["details"]),
        journal_id=data["journal_id"],
    )


class FilePassageJournal:
    """Implements ``controllers.ports.PassageJournal`` on one local file."""

    def __init__(self, path: Path, space: DiskSpace | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()  # the runtime calls from worker threads
        # A full disk gives up its reserve for the journal (services/disk_space.py).
        self._space = space

    def append(self, record: PassageRecord) -> None:
        if record.journal_id is None:
            raise ValueError("a journalled passage needs a journal_id")
        self._write_line(_passage_line(record))

    def set_outcome(self, journal_id: str, outcome: str) -> None:
        self._write_line(_outcome_line(journal_id, outcome))

    def set_passage_outcome(self, passage_id: int, outcome: str) -> None:
        self._write_line(_passage_outcome_line(passage_id, outcome))

    def append_alarm(self, alarm: PendingAlarm) -> None:
        self._write_line(_alarm_line(alarm))

    def append_guard_open(self, opened: GuardOpen) -> None:
        self._write_line(_guard_open_line(opened))

    def pending(self) -> list[JournalEntry]:
        with self._lock:
            return self._read().entries

    def backlog(self) -> JournalBacklog:
        with self._lock:
            return self._read()

    def waiting(self) -> bool:
        return self.path.exists()

    @property
    def set_aside_path(self) -> Path:
        """Where refused entries are kept: a journal of the same format, so that once the
        cause is fixed it can be appended to this one (controller stopped) and written."""
        return self.path.with_name(f"{self.path.stem}.set-aside{self.path.suffix}")

    def set_aside(self, refused: JournalBacklog, why: str) -> None:
        """Move ``refused`` out of the way of the other entries: appended (fsynced) to
        :attr:`set_aside_path` first, then dropped from this file, so a crash in between
        leaves it in both (written once: the journal id keys it), never in neither."""
        lines = [with_why(_passage_line(e.record), why) for e in refused.entries]
        lines += [
            with_why(_outcome_line(e.record.journal_id, e.barrier_outcome), why)
            for e in refused.entries
            if e.record.journal_id is not None and e.barrier_outcome != "pending"
        ]
        lines += [with_why(_passage_outcome_line(pid, outcome), why)
                  for pid, outcome in refused.outcomes.items()]
        lines += [with_why(_alarm_line(alarm), why) for alarm in refused.alarms]
        lines += [with_why(_guard_open_line(opened), why) for opened in refused.reopens]
        with self._lock:
            append_durably(self.set_aside_path, "".join(lines))
        self.discard(
            {e.record.journal_id for e in refused.entries if e.record.journal_id is not None},
            outcomes=set(refused.outcomes), alarms={a.key for a in refused.alarms},
            reopens={r.key for r in refused.reopens},
        )

    def discard(
        self, journal_ids: set[str], *, outcomes: set[int] | None = None,
        alarms: set[str] | None = None, reopens: set[str] | None = None,
    ) -> None:
        """Drop the given entries (and their outcome lines), the given passages' outcomes,
        and the given alarms and guards' opens; atomic: a crash leaves the old file or the
        new one, never half of one."""
        with self._lock:
            backlog = self._read()
            kept = [e for e in backlog.entries if e.record.journal_id not in journal_ids]
            kept_outcomes = {
                pid: outcome for pid, outcome in backlog.outcomes.items()
                if pid not in (outcomes or set())
            }
            kept_alarms = [a for a in backlog.alarms if a.key not in (alarms or set())]
            kept_reopens = [r for r in backlog.reopens if r.key not in (reopens or set())]
            if not kept and not kept_outcomes and not kept_alarms and not kept_reopens:
                self.path.unlink(missing_ok=True)
                return
            lines: list[str] = []
            for entry in kept:
                lines.append(_passage_line(entry.record))
                if entry.barrier_outcome != "pending":
                    assert entry.record.journal_id is not None
                    lines.append(_outcome_line(entry.record.journal_id, entry.barrier_outcome))
            lines += [_passage_outcome_line(pid, outcome) for pid, outcome in kept_outcomes.items()]
            lines += [_alarm_line(alarm) for alarm in kept_alarms]
            # Their place among the passages is kept by their times, not by the line order.
            lines += [_guard_open_line(opened) for opened in kept_reopens]
            replace_durably(self.path, lines)

    def _write_line(self, line: str) -> None:
        with self._lock:
            try:
                append_with_reserve(self.path, line, self._space)
            except OSError as err:
                # Neither the database nor the local disk can keep this passage: the caller
                # must not drive the barrier as if it were recorded.
                raise StoreUnavailableError(
                    f"database down and the passage journal {self.path} is not writable: {err}"
                ) from err

    def _read(self) -> JournalBacklog:
        if not self.path.exists():
            return JournalBacklog()
        records: dict[str, PassageRecord] = {}
        outcomes: dict[str, str] = {}
        passage_outcomes: dict[int, str] = {}
        alarms: list[PendingAlarm] = []
        reopens: list[GuardOpen] = []

        def take(data: dict[str, Any]) -> None:
            if data["type"] == "passage":
                record = record_from_json(data["record"])
                assert record.journal_id is not None
                records[record.journal_id] = record
            elif data["type"] == "passage_outcome":
                passage_outcomes[int(data["passage_id"])] = str(data["outcome"])
            elif data["type"] == "alarm":
                fields = dict(data["alarm"])
                fields["at"] = datetime.fromisoformat(fields["at"])
                alarms.append(PendingAlarm(**fields))
            elif data["type"] == "guard_open":
                fields = dict(data["guard_open"])
                fields["at"] = datetime.fromisoformat(fields["at"])
                reopens.append(GuardOpen(**fields))
            else:
                outcomes[data["journal_id"]] = data["outcome"]

        read_lines(self.path, take, "journal")
        entries = [
            JournalEntry(record, outcomes.get(journal_id, "pending"))
            for journal_id, record in records.items()
        ]
        return JournalBacklog(entries, passage_outcomes, alarms, reopens)


def read_lines(path: Path, take: Callable[[dict[str, Any]], None], what: str) -> None:
    """Hand each line of a journal file to ``take`` as JSON. Blank lines are skipped, and so is
    a line that cannot be read (a write torn by a crash, a hand edit): logged with its number,
    never fatal, since the lines around it are still records to keep."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                take(json.loads(line))
            except (ValueError, KeyError, TypeError, AssertionError) as err:
                logger.warning("%s %s line %d unreadable, skipped: %s", what, path, number, err)


def _passage_line(record: PassageRecord) -> str:
    return _line({"type": "passage", "record": record_to_json(record)})


def _alarm_line(alarm: PendingAlarm) -> str:
    fields = asdict(alarm)
    fields["at"] = alarm.at.isoformat()
    return _line({"type": "alarm", "alarm": fields})


def _guard_open_line(opened: GuardOpen) -> str:
    fields = asdict(opened)
    fields["at"] = opened.at.isoformat()
    return _line({"type": "guard_open", "guard_open": fields})


def _outcome_line(journal_id: str, outcome: str) -> str:
    return _line({"type": "outcome", "journal_id": journal_id, "outcome": outcome})


def _passage_outcome_line(passage_id: int, outcome: str) -> str:
    return _line({"type": "passage_outcome", "passage_id": passage_id, "outcome": outcome})


def _line(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"


def with_why(line: str, why: str) -> str:
    """The line with the reason it was set aside (a key the reader ignores)."""
    return _line({**json.loads(line), "set_aside": why})


# Plates, residents' ids, guards' names and reasons are personal information: the journals
# are readable by parkgate's own user only, as the offline snapshot is.
PRIVATE_FILE_MODE = 0o600


def private_opener(path: str, flags: int) -> int:
    """``open(..., opener=private_opener)``: the file created, or narrowed if an earlier
    version left it wider, to :data:`PRIVATE_FILE_MODE`."""
    fd = os.open(path, flags, PRIVATE_FILE_MODE)
    os.fchmod(fd, PRIVATE_FILE_MODE)
    return fd


def append_durably(path: Path, text: str) -> None:
    """Append ``text`` and fsync it before returning (the audit journal writes this way too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab", opener=private_opener) as out:
        if out.tell() > 0 and not _ends_with_newline(path):
            out.write(b"\n")  # a torn line from a crash must not swallow this one
        out.write(text.encode("utf-8"))
        out.flush()
        os.fsync(out.fileno())


def replace_durably(path: Path, lines: Iterable[str]) -> None:
    """Rewrite ``path`` with ``lines``, atomically: a crash leaves the old file or the new one,
    never half of one (the audit journal trims this way too). A write the disk refuses leaves
    no half-written temporary file behind."""
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "w", encoding="utf-8", opener=private_opener) as out:
            out.writelines(lines)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def append_with_reserve(path: Path, text: str, space: DiskSpace | None) -> None:
    """:func:`append_durably`; on a full disk, once more after giving up the space reserve
    (the journals are where a record goes when nothing else can keep it)."""
    try:
        try:
            append_durably(path, text)
        except OSError as err:
            _drop_if_empty(path)
            if space is None or not space.refused(err):
                raise
            append_durably(path, text)
    except OSError:
        _drop_if_empty(path)
        raise


def _drop_if_empty(path: Path) -> None:
    """A first append the disk refused leaves an empty file, which would read as a journal
    waiting to be written back."""
    with contextlib.suppress(OSError):
        if path.stat().st_size == 0:
            path.unlink()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
