"""Deleting, on a resident's request, the photos the pedestrian gate took of them (PIPL).

Each face or PIN passage of a resident at a pedestrian gate keeps its snapshot, a photo
of their face, for ``retention.snapshot_days``. Deleting their face templates or withdrawing
consent leaves those photos (they are the gate's record, not enrolment data), so a resident
who asks for their face to be gone gets this as well: every such snapshot of theirs is deleted
now. The passages stay (who passed when is the gate's record until
``retention.passage_days``); each says its snapshot was deleted on request.

A passage's snapshot that a guard still needs is kept: one waiting in the review queue or
linked to an alarm not yet acknowledged (services/storage_watch.py ``snapshot_paths_in_use``,
the low-space cleanup's rule). The answer counts them, so the office can ask again once
the guard has dealt with it. Passages recorded during a database outage and not yet written
back from the journal are not reached; their snapshots go at the end of the retention period.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from errors import NotFoundError
from models.db import transaction
from models.events import AuditEntry, Passage
from models.people import Resident
from services.snapshots import SnapshotStore
from services.storage_watch import snapshot_paths_in_use
from wall_clock import utcnow

logger = logging.getLogger(__name__)

ACTION = "face.snapshots_delete"
# What a passage's details say of its snapshot afterwards (the console and the personal-data
# export read it).
DELETED_ON_REQUEST = "deleted on request"


@dataclass(frozen=True, slots=True)
class SnapshotErasure:
    resident_id: int
    deleted: int
    kept_for_guards: int
    audit_id: int


def gate_snapshot_rows() -> list[ColumnElement[bool]]:
    """Passages at a pedestrian gate with a snapshot, as ``ix_passages_resident_snapshots``
    covers them: no car's (a car's passage names its driver too, but its photo is of the
    car)."""
    return [Passage.vehicle_id.is_(None), Passage.snapshot_path.is_not(None)]


def _own_passages(resident_id: int) -> list[ColumnElement[bool]]:
    return [Passage.resident_id == resident_id, *gate_snapshot_rows()]


def erase_gate_snapshots(
    sessions: sessionmaker[Session], snapshots: SnapshotStore, resident_id: int,
    operator: str, reason: str,
) -> SnapshotErasure:
    """Delete the resident's pedestrian-gate snapshots; NotFoundError when parkgate knows
    nobody by that id (a resident who moved out still has passages: their photos are found)."""
    now = utcnow()
    with transaction(sessions) as session:
        rows = session.scalars(
            select(Passage).where(*_own_passages(resident_id))
            .order_by(Passage.id).with_for_update()
        ).all()
        if not rows and session.get(Resident, resident_id) is None:
            raise NotFoundError(f"resident {resident_id} not found")
        needed = snapshot_paths_in_use(session)
        kept = [row for row in rows if row.snapshot_path in needed]
        files = [_forget(row, now) for row in rows if row.snapshot_path not in needed]
        entry = AuditEntry(
            username=operator, action=ACTION, target=f"resident:{resident_id}", reason=reason,
            details={"snapshots_deleted": len(files), "kept_for_guards": len(kept)},
        )
        session.add(entry)
        session.flush()
        audit_id = entry.id
    # After the commit: a file left by a crash here is an orphan retention deletes by its
    # date; a file deleted before a rollback would leave passages pointing at nothing.
    for relative in files:
        _unlink(snapshots, relative)
    logger.info("resident %d: %d gate snapshots deleted on request, %d kept for the guards",
                resident_id, len(files), len(kept))
    return SnapshotErasure(resident_id, len(files), len(kept), audit_id)


def _forget(passage: Passage, now: datetime) -> str:
    relative = passage.snapshot_path
    assert relative is not None  # selected by _own_passages
    passage.snapshot_path = None
    passage.details = {**(passage.details or {}), "snapshot": DELETED_ON_REQUEST,
                       "snapshot_deleted_at": now.isoformat()}
    return relative


def _unlink(snapshots: SnapshotStore, relative: str) -> None:
    try:
        snapshots.path(relative).unlink()
    except (NotFoundError, FileNotFoundError):
        pass  # gone already: retention or the low-space cleanup took it
    except OSError as err:
        logger.error("cannot delete snapshot %s: %s; retention deletes it by its date",
                     relative, err)
