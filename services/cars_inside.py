"""场内车辆: the cars recorded inside now, and a guard's 标记已离场 for one that is not.

The ``presence`` rows (models/vehicles.py) drive anti-passback, 一位多车, visitor overstay
alarms and the gates' offline view, and the zone counts move with them. Guards are asked "is
闽A12345 inside?", the office "which visitor cars stayed overnight?"; both read them here.

A car that left without its exit being read (tailgating out behind another car, the exit
camera down) stays recorded inside for good: hard anti-passback refuses it at its next entry
and its zone shows one space too few. ``mark_left`` takes it out as an allowed exit would
(``_Unit.mark_left`` in models/access_store.py, the exit's own code): the row goes, the zone
that counted it comes down one (clamped at 0 with the exit's alarm), audited with who and
why. A visitor pass is not touched, as an exit does not touch it: its use was counted at the
entry, and a pass whose window ended is kept current only while its car is inside
(``_pass_still_current``), so it ends with the row. The caller tells the gates' offline
snapshot and the boards after the commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from controllers.passage_rows import alarm_event
from errors import ConflictError
from models.access_store import SqlAccessStore
from models.events import AuditEntry
from models.people import Household
from models.site import configured_zones
from models.vehicles import Presence
from plate_privacy import plate_for_log

logger = logging.getLogger(__name__)

MARK_LEFT_ACTION = "presence.left"


class CarKind(StrEnum):
    """Why the car is inside: a household's own car, a visitor's pass, or neither (let in by
    a guard, an allow-listed plate, a car whose flat or pass was deleted since)."""

    RESIDENT = "resident"
    VISITOR = "visitor"
    OTHER = "other"


_KIND_WHERE: dict[CarKind, ColumnElement[bool]] = {
    CarKind.RESIDENT: and_(Presence.pass_id.is_(None), Presence.household_id.is_not(None)),
    CarKind.VISITOR: Presence.pass_id.is_not(None),
    CarKind.OTHER: and_(Presence.pass_id.is_(None), Presence.household_id.is_(None)),
}


@dataclass(frozen=True, slots=True)
class InsideQuery:
    zone_id: str | None = None
    plate: str | None = None  # folded (api.schemas.search_plate); part of a plate
    kind: CarKind | None = None
    entered_before: datetime | None = None  # inside at least since then

    def statement(self) -> Select[Any]:
        stmt = select(Presence)
        if self.zone_id is not None:
            stmt = stmt.where(Presence.zone_id == self.zone_id)
        if self.plate:
            stmt = stmt.where(Presence.plate.contains(self.plate, autoescape=True))
        if self.kind is not None:
            stmt = stmt.where(_KIND_WHERE[self.kind])
        if self.entered_before is not None:
            stmt = stmt.where(Presence.entered_at <= self.entered_before)
        return stmt


@dataclass(frozen=True, slots=True)
class CarInside:
    plate: str
    zone_id: str | None
    household_id: int | None
    household: str | None  # 「3栋 1201」: the car's flat, or the pass's host
    pass_id: int | None
    entered_at: datetime
    passage_id: int | None

    @property
    def kind(self) -> CarKind:
        if self.pass_id is not None:
            return CarKind.VISITOR
        return CarKind.RESIDENT if self.household_id is not None else CarKind.OTHER

    def inside_for(self, now: datetime) -> timedelta:
        return max(timedelta(0), now - self.entered_at)


@dataclass(frozen=True, slots=True)
class InsidePage:
    rows: Sequence[CarInside]
    total: int


def list_inside(session: Session, query: InsideQuery, *, limit: int, offset: int) -> InsidePage:
    """The cars inside that match, longest inside first, one page of them and the count."""
    stmt = query.statement()
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.add_columns(Household.building, Household.unit)
        .outerjoin(Household, Household.id == Presence.household_id)
        .order_by(Presence.entered_at, Presence.plate)
        .limit(limit).offset(offset)
    ).all()
    return InsidePage(
        [CarInside(
            plate=p.plate, zone_id=p.zone_id, household_id=p.household_id,
            household=f"{building} {unit}" if building is not None else None,
            pass_id=p.pass_id, entered_at=p.entered_at, passage_id=p.passage_id,
        ) for p, building, unit in rows],
        int(total),
    )


def recorded_per_zone(session: Session) -> dict[str | None, int]:
    """How many cars are recorded inside each zone (None: counted in no zone)."""
    return {zone: int(n) for zone, n in session.execute(
        select(Presence.zone_id, func.count()).group_by(Presence.zone_id))}


class PresenceChangedError(ConflictError):
    """The car is no longer recorded inside under the entry the guard saw: nothing changed."""


@dataclass(frozen=True, slots=True)
class MarkedLeft:
    plate: str
    zone_id: str | None
    zone_moved: int
    entered_at: str
    passage_id: int | None
    household_id: int | None
    pass_id: int | None
    audit_id: int
    alarms: list[dict[str, Any]]

    @property
    def moves_zone(self) -> bool:
        return self.zone_moved != 0

    @property
    def counted_in_zone(self) -> bool:
        """Whether a zone counted the car: it came down one, or stayed at 0 with the exit's
        ``occupancy_below_zero`` alarm. A car counted in no zone (or in one retired since,
        whose count was dropped) moves nothing and raises nothing, and the guard is told so
        rather than that a count came down."""
        return self.moves_zone or bool(self.alarms)


def mark_left(
    store: SqlAccessStore, plate: str, *, operator: str, reason: str,
    passage_id: int | None = None,
) -> MarkedLeft:
    """Take ``plate`` off the cars inside as if its exit had been read, in one transaction
    with its audit entry (``presence.left``: who, why, plate, zone). ``passage_id``: the
    entry the guard saw listed; a car that has left or come in again since is a
    :class:`PresenceChangedError` (HTTP 409) with nothing changed."""
    with store.unit() as unit:
        left = unit.mark_left(plate, passage_id)
        if left is None:
            raise PresenceChangedError(
                f"{plate} is no longer recorded inside"
                + (f" under entry passage {passage_id}" if passage_id is not None else "")
                + ": it left or came in again meanwhile; nothing was changed, look at the list"
                " again"
            )
        row = left.row
        entry = AuditEntry(
            username=operator, action=MARK_LEFT_ACTION, target=f"plate:{plate}",
            passage_id=row["passage_id"], reason=reason,
            details={"plate": plate, "zone": left.zone_id, "zone_moved": left.zone_moved,
                     "entered_at": row["entered_at"], "household_id": row["household_id"],
                     "pass_id": row["pass_id"]},
        )
        unit.session.add(entry)
        alarms = []
        for kind in left.alarms:
            # A count already at 0 with this car recorded in it had drifted: as at an exit,
            # an admin is asked to correct it.
            message = f"{kind} in zone {left.zone_id}: {plate} marked left (guard {operator})"
            alarm_id = unit.raise_alarm(kind, gate_id=None, passage_id=None, message=message)
            alarms.append(alarm_event(alarm_id, kind, None, None, message))
        unit.session.flush()
        audit_id = entry.id
    logger.info("%s marked left by %s (zone %s, moved %s, entry passage %s)",
                plate_for_log(plate), operator,
                left.zone_id, left.zone_moved, row["passage_id"])
    return MarkedLeft(plate=plate, zone_id=left.zone_id, zone_moved=left.zone_moved,
                      entered_at=row["entered_at"], passage_id=row["passage_id"],
                      household_id=row["household_id"], pass_id=row["pass_id"],
                      audit_id=audit_id, alarms=alarms)


def zone_names(session: Session) -> dict[str, str]:
    """Configured zones by id, with their names, for the filter and the rows."""
    return {z.id: z.name or z.id for z in configured_zones(session)}
