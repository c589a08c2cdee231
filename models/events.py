"""Passages (append-only), alarms and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, utcnow


class Passage(Base):
    """One vehicle or person at a gate and what parkgate did.

    Rows are never deleted or rewritten; the only later writes are the barrier outcome, a
    guard's resolution of a ``review``, when the barrier did not open, the flag saying the
    passage's admission was undone (``admission_undone``), a snapshot deleted at the
    resident's request (services/gate_snapshot_erasure.py), and, past the retention period,
    the removal of whose passage it was (services/passage_retention.py: ``anonymised_at``).
    """

    __tablename__ = "passages"
    __table_args__ = (
        Index("ix_passages_gate_at", "gate_id", "at"),
        Index("ix_passages_plate", "plate"),
        # The history's plate-kind filter ("the trailers of this week"): a rare kind counted
        # and paged newest first off the index, not by scanning every passage (0019).
        Index("ix_passages_plate_kind_at", "plate_kind", "at"),
        # The review queue (decision = 'review', resolution IS NULL, oldest first) reads the
        # waiting cars straight off this index; on decision alone it read and sorted every
        # review of the history on each booth-page poll (bench/scale.py). It also serves
        # what the old index on decision did (a result's passages, counted or paged).
        Index("ix_passages_decision_resolution_at", "decision", "resolution", "at"),
        # What retention still has to anonymise, oldest first, without walking the years it
        # anonymised already (services/passage_retention.py).
        Index(
            "ix_passages_to_anonymise",
            "at",
            sqlite_where=text("anonymised_at IS NULL"),
            postgresql_where=text("anonymised_at IS NULL"),
        ),
        # A resident's own photographed passages at a pedestrian gate (face, PIN): counted on
        # the faces page and deleted on request (services/gate_snapshot_erasure.py) without
        # reading every car's passage (0021).
        Index(
            "ix_passages_resident_snapshots",
            "resident_id",
            sqlite_where=text("vehicle_id IS NULL AND snapshot_path IS NOT NULL"),
            postgresql_where=text("vehicle_id IS NULL AND snapshot_path IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    gate_id: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))
    zone_id: Mapped[str | None] = mapped_column(String(32), default=None)
    plate: Mapped[str | None] = mapped_column(String(16), default=None)
    confidence: Mapped[float] = mapped_column(default=0.0)
    plate_color: Mapped[str] = mapped_column(String(16), default="unknown")
    # The read plate's family (vision/plate_grammar.py PlateKind: trailer, double_row, …),
    # beside the colour it is read with: a column, not details, so that an office can ask for
    # the trailers of a night. None: no plate read, typed, or recorded before 0018.
    plate_kind: Mapped[str | None] = mapped_column(String(24), default=None)
    matched_plate: Mapped[str | None] = mapped_column(String(16), default=None)
    match_distance: Mapped[int] = mapped_column(default=0)
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(32))
    credential: Mapped[str] = mapped_column(String(16), default="none")
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    vehicle_id: Mapped[int | None] = mapped_column(default=None)
    household_id: Mapped[int | None] = mapped_column(default=None)
    resident_id: Mapped[int | None] = mapped_column(default=None)
    pass_id: Mapped[int | None] = mapped_column(default=None)
    snapshot_path: Mapped[str | None] = mapped_column(String(255), default=None)
    barrier_outcome: Mapped[str] = mapped_column(String(32), default="pending")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What an allowed passage changed (pass use, presence, zone count), so that a barrier that
    # did not open undoes exactly that (models/access_store.py); None when it changed nothing.
    admission: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    resolved_by: Mapped[str | None] = mapped_column(String(64), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolution: Mapped[str | None] = mapped_column(String(32), default=None)
    resolved_plate: Mapped[str | None] = mapped_column(String(16), default=None)
    # Set on passages decided while the database was down and written from the local journal;
    # unique so that replaying the journal twice (crash before it was trimmed) adds nothing.
    journal_id: Mapped[str | None] = mapped_column(
        String(32), default=None, unique=True, index=True
    )
    # When the plate, the people and the vehicle were removed (retention.passage_days).
    anonymised_at: Mapped[datetime | None] = mapped_column(default=None)


# The longest note a guard may give with an acknowledgement: a sentence, not a report.
ACK_NOTE_CHARS = 500


class Alarm(Base):
    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    gate_id: Mapped[str | None] = mapped_column(String(32), default=None)
    zone_id: Mapped[str | None] = mapped_column(String(32), default=None)
    message: Mapped[str] = mapped_column(String(500), default="")
    passage_id: Mapped[int | None] = mapped_column(default=None)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    # What the guard found, given with the acknowledgement ("车主忘带卡，已核实"); None when
    # they gave none. The alarm.ack audit entry's reason holds the same text.
    acknowledged_note: Mapped[str | None] = mapped_column(String(ACK_NOTE_CHARS), default=None)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        # A resident's entries by action: whether their face data was erased or their
        # consent withdrawn, checked on every enrolment and consent (services/faces.py);
        # without it each check read the whole log (~30 ms at 500,000 entries) (0020).
        Index("ix_audit_log_target_action", "target", "action"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128), default="")
    gate_id: Mapped[str | None] = mapped_column(String(32), default=None)
    # Indexed: the booth page and history look up the resolutions of the passages they show
    # by it; SQLite, which has no statistics, read the whole log in id order instead of the
    # rows of the last minutes by ``at``.
    passage_id: Mapped[int | None] = mapped_column(default=None, index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Set on a guard's action taken while the database was down and written from the local
    # audit journal (services/audit_journal.py); unique so that writing the journal twice (a
    # crash before it was trimmed) adds nothing.
    journal_id: Mapped[str | None] = mapped_column(
        String(32), default=None, unique=True, index=True
    )
