"""The boundaries the gate runtime talks through. Implementations live outside controllers/."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from controllers.guidance import Hold
from controllers.policy import PassPermit, Permits, ZoneOccupancy
from controllers.values import AccessDecision, Direction, Sighting

# What a passage's ``barrier_outcome`` reads when no barrier answered for it (otherwise it is
# the barrier's state after the open, ``fault`` or ``no_barrier``).
OUTCOME_PENDING = "pending"  # about to be driven: a crash before its answer leaves this
OUTCOME_NOT_DRIVEN = "closed"  # the decision does not open: the barrier was not driven
OUTCOME_FAULT = "fault"  # the barrier did not confirm the open
# The flag of an allowed passage whose barrier did not open: its presence, pass use and zone
# count were taken back (committed before the barrier moved, for crash safety).
ADMISSION_UNDONE = "admission_undone"


@dataclass(frozen=True, slots=True)
class PassageRecord:
    """What is written for one passage, before the barrier is driven."""

    gate_id: str
    direction: Direction
    zone_id: str | None
    sighting: Sighting
    decision: AccessDecision
    snapshot_path: str | None
    details: dict[str, Any] = field(default_factory=dict)
    # Set when the passage was decided offline: it keys the journal entry and makes writing
    # it to the database idempotent (a crash between the write and the journal trim).
    journal_id: str | None = None

    @property
    def initial_outcome(self) -> str:
        """The row's barrier outcome when written: ``pending`` only for a passage whose
        barrier is about to be driven, so ``pending`` picks out those a crash interrupted."""
        return OUTCOME_PENDING if self.decision.opens else OUTCOME_NOT_DRIVEN


@dataclass(frozen=True, slots=True)
class AccessSnapshot:
    """Every plate the database knows (vehicles, passes, lists, presence) → its permits."""

    taken_at: datetime
    permits: Mapping[str, Permits]
    # Walk-in passes (no plate): no gate's plate lookup finds them; the pedestrian gates'
    # offline QR check takes them from here with the plated passes.
    walk_in_passes: tuple[PassPermit, ...] = ()
    # Household id → 「3栋 1201」 (building and unit only), for the households the permits
    # name. Not read by ``decide``: the booth's rows of passages decided offline name the
    # flat with it, as stored rows do, while the households table cannot be read. Kept in
    # the snapshot rather than beside it because it comes from the same read (the households
    # are read for their spaces anyway), so every household id a permit holds has its label,
    # and it reaches the disk in the same atomic write, surviving a restart with it.
    household_labels: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    record: PassageRecord
    barrier_outcome: str = OUTCOME_PENDING


@dataclass(frozen=True, slots=True)
class PendingAlarm:
    """An alarm raised while the database was unreachable: published at once, stored from
    the journal once it answers."""

    key: str  # unique in the journal
    kind: str
    gate_id: str | None
    message: str
    at: datetime
    passage_id: int | None = None
    journal_id: str | None = None  # the offline passage it concerns, linked once written
    once_per_gate: bool = False  # an open alarm of this kind and gate stands for it


@dataclass(frozen=True, slots=True)
class GuardOpen:
    """A guard's open naming a passage while the database was unreachable. Online that open
    writes the barrier's answer to the passage and gives back an admission its failed open
    took back (``passage_rows.record_outcome``); the write-back does the same once the passage
    is in the database, in the order things happened (``at`` against the passages' times)."""

    key: str  # unique in the journal
    at: datetime
    gate_id: str
    outcome: str  # the barrier's answer to the guard's open
    passage_id: int | None = None  # a passage stored before the outage
    journal_id: str | None = None  # or one decided offline, named by its journal id

    def __post_init__(self) -> None:
        if (self.passage_id is None) == (self.journal_id is None):
            raise ValueError("a guard's open names a passage by passage_id or journal_id, "
                             f"exactly one; got {self.passage_id!r} and {self.journal_id!r}")
        if self.at.tzinfo is None:
            raise ValueError(f"at must carry a time zone, got {self.at.isoformat()}")

    @property
    def named(self) -> str:
        """The passage named, as the log and the guards' alarm say it."""
        return (f"passage {self.passage_id}" if self.passage_id is not None
                else f"journalled passage {self.journal_id}")


@dataclass(frozen=True, slots=True)
class JournalBacklog:
    """Everything the journal holds for the database: passages decided offline, the
    barrier outcomes of passages committed just before the database went away, alarms
    raised while it was away, and guards' opens naming a passage."""

    entries: list[JournalEntry] = field(default_factory=list)
    outcomes: dict[int, str] = field(default_factory=dict)  # passage id -> barrier outcome
    alarms: list[PendingAlarm] = field(default_factory=list)
    reopens: list[GuardOpen] = field(default_factory=list)

    def __len__(self) -> int:
        """How many things wait to be written: each passage (with its barrier outcome), each
        stored passage's outcome, alarm and guard's open."""
        return len(self.entries) + len(self.outcomes) + len(self.alarms) + len(self.reopens)

    def __bool__(self) -> bool:
        return len(self) > 0


class AccessUnit(Protocol):
    """One transaction: read what is known, record the passage and its consequences."""

    def permits(
        self, plate: str | None, now: datetime, *, province_unsure: bool = False
    ) -> Permits:
        """``province_unsure``: match a registered plate differing only in the province."""
        ...

    def occupancy(self, zone_id: str | None) -> ZoneOccupancy | None: ...

    def record_passage(self, record: PassageRecord) -> int: ...

    def apply_admission(self, record: PassageRecord, passage_id: int) -> list[str]:
        """Presence, pass use and zone count after an allowed passage, kept with the passage
        so they can be undone; returns alarm kinds."""
        ...

    def undo_admission(self, passage_id: int) -> bool:
        """Take back what the passage's admission changed and flag it
        :data:`ADMISSION_UNDONE`; False when there is nothing to undo (none, or undone)."""
        ...

    def redo_admission(self, passage_id: int) -> bool:
        """Give back an undone admission (its barrier opened after all) and drop the flag;
        False when it was not undone, or the car is counted already (let in on a retry)."""
        ...

    def raise_alarm(
        self, kind: str, *, gate_id: str | None, passage_id: int | None, message: str,
        at: datetime | None = None,
    ) -> int:
        """``at``: when it was raised, if not now."""
        ...

    def open_alarm_like(
        self, kind: str, *, gate_id: str | None, message: str | None, since: datetime
    ) -> int | None:
        """An unacknowledged alarm of this kind and gate (and message, unless None) raised
        at or after ``since``, if there is one."""
        ...

    def link_alarm(self, alarm_id: int, passage_id: int) -> None:
        """Tie an alarm raised without a passage to the first passage it concerns."""
        ...

    def reword_alarm(self, alarm_id: int, message: str) -> bool:
        """Replace an unacknowledged alarm's message; False when it was acknowledged (or is
        gone), so the caller raises a new one instead."""
        ...

    def passage_view(self, passage_id: int) -> dict[str, Any]: ...

    def has_journal_entry(self, journal_id: str) -> bool: ...

    def set_outcome(self, passage_id: int, outcome: str) -> None: ...

    def outcome_of(self, passage_id: int) -> str | None:
        """The passage's barrier outcome; None when there is no such passage."""
        ...

    def journal_passage(self, journal_id: str) -> int | None:
        """The id of the passage written from this journal entry, if it was."""
        ...

    def is_inside(self, plate: str) -> bool:
        """Whether the car is recorded inside (exactly this plate)."""
        ...


class AccessStore(Protocol):
    def unit(self) -> AbstractContextManager[AccessUnit]: ...

    def availability_view(self) -> dict[str, Any]: ...

    def snapshot(self, now: datetime) -> AccessSnapshot:
        """Permits of every known plate, for deciding while the database is unreachable."""
        ...


class PassageJournal(Protocol):
    """Local, durable storage for passages decided while the database was unreachable."""

    def append(self, record: PassageRecord) -> None:
        """Stored durably (fsynced) before returning: the barrier moves only after."""
        ...

    def set_outcome(self, journal_id: str, outcome: str) -> None: ...

    def set_passage_outcome(self, passage_id: int, outcome: str) -> None:
        """The barrier outcome of a passage already in the database, which could not take
        it (it went away between the passage and the barrier's answer). Durable."""
        ...

    def append_alarm(self, alarm: PendingAlarm) -> None:
        """An alarm the database could not take. Durable."""
        ...

    def append_guard_open(self, opened: GuardOpen) -> None:
        """A guard's open naming a passage, once its barrier answered. Durable."""
        ...

    def pending(self) -> list[JournalEntry]: ...

    def backlog(self) -> JournalBacklog:
        """Everything waiting, in one read."""
        ...

    def waiting(self) -> bool:
        """Cheap: whether any entry waits (checked every few seconds)."""
        ...

    def discard(
        self, journal_ids: set[str], *, outcomes: set[int] | None = None,
        alarms: set[str] | None = None, reopens: set[str] | None = None,
    ) -> None:
        """Drop the given passages, the outcomes of the given passage ids, and the alarms and
        guards' opens with the given keys."""
        ...

    def set_aside(self, refused: JournalBacklog, why: str) -> None:
        """Move entries the database refuses for a reason other than an outage out of the
        way of the others: kept durably elsewhere for an operator, never retried on their
        own and never dropped."""
        ...

    @property
    def set_aside_path(self) -> Path:
        """Where set-aside entries are kept (named in the guards' alarm)."""
        ...


class HoldStore(Protocol):
    """Where guidance holds outlive the process, so a restart does not forget them."""

    def load(self) -> list[Hold]:
        """Every hold stored (expired ones too: ``HoldBook.restore`` drops those)."""
        ...

    def replace(self, holds: Sequence[Hold]) -> None:
        """Store exactly ``holds`` (the book's active holds), in one transaction."""
        ...
