"""Past the retention period, passages stop saying whose they were (PIPL).

A passage is personal information for as long as it names a car or a person: the plate read,
matched and resolved, the vehicle, household, resident and visitor pass, the snapshot, the
read's details. ``retention.passage_days`` after it happened all of that is removed and the
passage keeps what the property office's statistics need: when, which gate and zone, the
decision and its reason, the credential kind, the flags (``anonymised`` added), the barrier's
outcome, who of the staff resolved it, and of its admission the zone it moved and by how much
(the reports list an exit under the zone that counted the car in, services/reports.py
listed_zone). Reports therefore count old days as before. The
alarms of that time lose their message (it names plates) and keep their kind and gate, and a
visitor pass that ended that long ago is deleted (its plate and note name the visitor),
unless its car is still recorded inside (an exit the camera missed: the guard or the office
corrects that first).

The audit log is kept whole: it is the record of what staff did (who opened a gate and why),
kept for as long as the database keeps it. Snapshots have their own, shorter, period
(``retention.snapshot_days``).

Runs hourly in the controller, in batches so the gates' writes never wait long behind it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from controllers.ports import ADMISSION_UNDONE
from models.db import transaction
from models.events import Alarm, Passage
from models.vehicles import Presence, VisitorPass
from wall_clock import utcnow

logger = logging.getLogger(__name__)

ANONYMISED = "anonymised"
BATCH = 500


@dataclass(frozen=True, slots=True)
class Forgotten:
    passages: int = 0
    alarms: int = 0
    passes: int = 0

    def __bool__(self) -> bool:
        return bool(self.passages or self.alarms or self.passes)


def forget_old_passages(
    sessions: sessionmaker[Session], days: int, *, now: datetime | None = None,
    batch: int = BATCH,
) -> Forgotten:
    """Anonymise what happened more than ``days`` days before ``now``; 0 days keeps all."""
    if days <= 0:
        return Forgotten()
    now = now or utcnow()
    cutoff = now - timedelta(days=days)

    def anonymise(session: Session, ids: Sequence[int]) -> None:
        for passage in session.scalars(select(Passage).where(Passage.id.in_(ids))):
            _anonymise(passage, now)

    passages = _in_batches(
        sessions, batch,
        # Rows a gate is writing (a barrier outcome) are left for the next run.
        select(Passage.id).where(Passage.at < cutoff, Passage.anonymised_at.is_(None))
        .order_by(Passage.at, Passage.id).with_for_update(skip_locked=True),
        anonymise,
    )
    alarms = _in_batches(
        sessions, batch, select(Alarm.id).where(Alarm.at < cutoff, Alarm.message != ""),
        lambda session, ids: session.execute(
            update(Alarm).where(Alarm.id.in_(ids)).values(message="")),
    )
    # A pass whose car is still recorded inside stays: deleting it would leave that car
    # looking like one of the household's own (presence.pass_id is set null), which counts
    # against the household's spaces and sends its own car to a guard.
    passes = _in_batches(
        sessions, batch,
        select(VisitorPass.id).where(
            VisitorPass.valid_to < cutoff, ~exists().where(Presence.pass_id == VisitorPass.id)),
        lambda session, ids: session.execute(
            delete(VisitorPass).where(VisitorPass.id.in_(ids))),
    )
    forgotten = Forgotten(passages, alarms, passes)
    if forgotten:
        logger.info(
            "retention (%d days): %d passage(s) anonymised, %d alarm message(s) cleared, %d "
            "visitor pass(es) deleted, all from before %s", days, forgotten.passages,
            forgotten.alarms, forgotten.passes, cutoff.isoformat(timespec="seconds"),
        )
    return forgotten


def _in_batches(
    sessions: sessionmaker[Session], batch: int, due: Select[int],
    change: Callable[[Session, Sequence[int]], object],
) -> int:
    """Apply ``change`` to the rows ``due`` lists (which ``change`` takes off that list),
    ``batch`` ids per transaction, so the gates' writes never wait behind one long one
    (SQLite has a single writer). Returns how many rows were changed."""
    done = 0
    while True:
        with transaction(sessions) as session:
            ids = session.scalars(due.limit(batch)).all()
            if ids:
                change(session, ids)
        done += len(ids)
        if len(ids) < batch:
            return done


def _zone_moved(passage: Passage) -> dict[str, Any] | None:
    """What the reports read of an admission, which names no one. Taken back (its barrier
    did not open), none: the reports count it nowhere, and a guard's open of a passage this
    old must not count it again from what is left."""
    admission = passage.admission or {}
    if not admission.get("zone_moved") or ADMISSION_UNDONE in (passage.flags or ()):
        return None
    return {"zone_id": admission.get("zone_id"), "zone_moved": admission["zone_moved"]}


def _anonymise(passage: Passage, now: datetime) -> None:
    passage.plate = None
    passage.matched_plate = None
    passage.resolved_plate = None
    passage.vehicle_id = None
    passage.household_id = None
    passage.resident_id = None
    passage.pass_id = None
    passage.snapshot_path = None
    passage.details = {}
    passage.admission = _zone_moved(passage)
    passage.flags = [*[f for f in passage.flags or [] if f != ANONYMISED], ANONYMISED]
    passage.anonymised_at = now
