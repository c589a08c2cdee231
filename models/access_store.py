"""The database side of a passage: what is known about a plate, and recording what happened.

Implements ``controllers.ports.AccessStore``; every query of the decision path lives here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from controllers.occupancy import apply_passage, apply_unrecorded_exit, move_by
from controllers.pass_hours import pass_hours
from controllers.plate_match import match_plate
from controllers.policy import ListEntry, PassPermit, Permits, VehiclePermit, ZoneOccupancy
from controllers.ports import ADMISSION_UNDONE, AccessSnapshot, PassageRecord
from controllers.values import Direction, Reason
from models.base import utcnow
from models.db import GATE_BUSY_TIMEOUT_MS, outage_as_unavailable, transaction
from models.events import Alarm, Passage
from models.people import Household
from models.site import OccupancySample, Zone, configured_zones
from models.vehicles import PlateListEntry, Presence, Vehicle, VisitorPass


def passage_to_dict(p: Passage) -> dict[str, Any]:
    return {
        "id": p.id,
        "at": p.at.isoformat(),
        "gate_id": p.gate_id,
        "direction": p.direction,
        "zone_id": p.zone_id,
        "plate": p.plate,
        "confidence": round(p.confidence, 4),
        "plate_color": p.plate_color,
        "plate_kind": p.plate_kind,
        "matched_plate": p.matched_plate,
        "match_distance": p.match_distance,
        "decision": p.decision,
        "reason": p.reason,
        "credential": p.credential,
        "flags": list(p.flags or []),
        "vehicle_id": p.vehicle_id,
        "household_id": p.household_id,
        "resident_id": p.resident_id,
        "pass_id": p.pass_id,
        "has_snapshot": p.snapshot_path is not None,
        "barrier_outcome": p.barrier_outcome,
        "details": dict(p.details or {}),
        "resolved_by": p.resolved_by,
        "resolved_at": p.resolved_at.isoformat() if p.resolved_at else None,
        "resolution": p.resolution,
        "resolved_plate": p.resolved_plate,
    }


def pass_permit(visitor_pass: VisitorPass) -> PassPermit:
    """The decision core's view of a stored visitor pass."""
    return PassPermit(
        pass_id=visitor_pass.id,
        plate=visitor_pass.plate,
        household_id=visitor_pass.host_household_id,
        valid_from=visitor_pass.valid_from,
        valid_to=visitor_pass.valid_to,
        max_uses=visitor_pass.max_uses,
        uses=visitor_pass.uses,
        hours=pass_hours(visitor_pass.weekdays, visitor_pass.hours_from, visitor_pass.hours_to),
    )


def availability(session: Session) -> dict[str, Any]:
    """The configured zones' counts; a retired zone (services/site.py) is not offered."""
    zones = configured_zones(session)
    rows = [
        {
            "id": z.id,
            "name": z.name,
            "capacity": z.capacity,
            "occupied": z.occupied,
            "free": max(0, z.capacity - z.occupied),
            "updated_at": z.updated_at.isoformat(),
        }
        for z in zones
    ]
    return {
        "zones": rows,
        "total_capacity": sum(r["capacity"] for r in rows),
        "total_free": sum(r["free"] for r in rows),
        "updated_at": max((z.updated_at for z in zones), default=utcnow()).isoformat(),
    }


# A visitor pass that ended longer ago than this is neither a candidate for a near read nor in
# the outage snapshot. Passes stay on file for retention (a year: 70,000 of them at 200 a day),
# and every read without an exact match was compared with each one's plate, and the snapshot
# rewritten every 30 s carried them all (measured growing by the soak run, bench.soak). Such
# a car still goes to the guard either way: online its exact plate finds the pass and says it
# expired; offline it is an unknown car. A pass whose car is still inside stays.
ENDED_PASS_HORIZON = timedelta(days=7)

# How many times an entry reads a registered car's plate and flat, locks them in order and
# reads the car again (``_Unit._registration_now``): each further read follows an office's
# change of the car committed just then, so a second one is already rare.
_REGISTRATION_READS = 3


def _pass_still_current(now: datetime) -> ColumnElement[bool]:
    return or_(VisitorPass.valid_to >= now - ENDED_PASS_HORIZON,
               VisitorPass.plate.in_(select(Presence.plate)))


def _vehicle_permit(vehicle: Vehicle, spaces: int, others_inside: int) -> VehiclePermit:
    """A registered car's permit; ``others_inside``: its household's other own cars inside
    (what the household's spaces are checked against)."""
    return VehiclePermit(
        vehicle_id=vehicle.id,
        household_id=vehicle.household_id,
        plate=vehicle.plate,
        household_spaces=spaces,
        household_cars_inside=others_inside,
        resident_id=vehicle.resident_id,
    )


# The reasons of an exit decided on a car not recorded inside under its plate.
NOT_INSIDE_EXITS = frozenset({Reason.EXIT_NOT_INSIDE, Reason.ANTI_PASSBACK})


@dataclass(frozen=True, slots=True)
class LeftUnseen:
    """A car taken off the cars inside by hand (``_Unit.mark_left``)."""

    plate: str
    row: dict[str, Any]  # its presence row as it was (_presence_row)
    zone_id: str | None  # the zone it was counted in
    zone_moved: int  # -1, or 0 when no zone counted it (or the count was at 0 already)
    alarms: list[str]


class _Unit:
    def __init__(self, session: Session, *, max_distance: int, province_tolerance: bool) -> None:
        self.session = session
        self._max_distance = max_distance
        self._province_tolerance = province_tolerance

    def _known_plates(self, now: datetime) -> set[str]:
        s = self.session
        plates: set[str] = set(s.scalars(select(Vehicle.plate)))
        plates.update(s.scalars(select(VisitorPass.plate).where(
            VisitorPass.plate.is_not(None), _pass_still_current(now))))
        plates.update(s.scalars(select(PlateListEntry.plate)))
        plates.update(s.scalars(select(Presence.plate)))
        return plates

    def permits(
        self, plate: str | None, now: datetime, *, province_unsure: bool = False
    ) -> Permits:
        if plate is None:
            return Permits()
        s = self.session
        matched, distance = plate, 0
        if not self._has_exact(plate):
            match = match_plate(
                plate,
                self._known_plates(now),
                max_distance=self._max_distance,
                province_tolerance=self._province_tolerance or province_unsure,
            )
            if match is None:
                return Permits()
            matched, distance = match.plate, match.distance
        vehicle = s.scalars(select(Vehicle).where(Vehicle.plate == matched)).first()
        vehicle_permit = None
        if vehicle is not None:
            household = s.get(Household, vehicle.household_id)
            inside_others = s.scalar(
                select(func.count())
                .select_from(Presence)
                .where(Presence.household_id == vehicle.household_id)
                .where(Presence.plate != matched)
                .where(Presence.pass_id.is_(None))
            )
            vehicle_permit = _vehicle_permit(
                vehicle, household.spaces if household else 1, int(inside_others or 0)
            )
        passes = tuple(
            pass_permit(p)
            for p in s.scalars(select(VisitorPass).where(VisitorPass.plate == matched))
        )
        entry = s.scalars(select(PlateListEntry).where(PlateListEntry.plate == matched)).first()
        inside = s.get(Presence, matched) is not None
        return Permits(
            vehicle=vehicle_permit,
            passes=passes,
            list_entry=ListEntry(entry.kind, entry.reason) if entry else None,  # type: ignore[arg-type]
            inside=inside,
            matched_plate=matched if matched != plate else None,
            match_distance=distance,
        )

    def _has_exact(self, plate: str) -> bool:
        s = self.session
        return any(
            s.scalar(select(model.plate).where(model.plate == plate).limit(1)) is not None
            for model in (Vehicle, VisitorPass, PlateListEntry, Presence)
        )

    def occupancy(self, zone_id: str | None) -> ZoneOccupancy | None:
        if zone_id is None:
            return None
        zone = self.session.get(Zone, zone_id)
        if zone is None:
            return None
        return ZoneOccupancy(zone.id, zone.capacity, zone.occupied)

    def record_passage(self, record: PassageRecord) -> int:
        d = record.decision
        passage = Passage(
            at=record.sighting.at,
            gate_id=record.gate_id,
            direction=str(record.direction),
            zone_id=record.zone_id,
            plate=record.sighting.plate,
            confidence=record.sighting.confidence,
            plate_color=record.sighting.color,
            plate_kind=record.sighting.kind,
            matched_plate=d.matched_plate,
            match_distance=d.match_distance,
            decision=str(d.verdict),
            reason=str(d.reason),
            credential=str(d.credential),
            flags=list(d.flags),
            vehicle_id=d.vehicle_id,
            household_id=d.household_id,
            resident_id=d.resident_id,
            pass_id=d.pass_id,
            snapshot_path=record.snapshot_path,
            details=record.details,
            journal_id=record.journal_id,
            barrier_outcome=record.initial_outcome,
        )
        self.session.add(passage)
        self.session.flush()
        return passage.id

    def apply_admission(self, record: PassageRecord, passage_id: int) -> list[str]:
        s = self.session
        d = record.decision
        plate = d.matched_plate or record.sighting.plate
        # What this admission changes, kept with the passage: a barrier that then does not
        # open undoes exactly this (undo_admission), whatever happened since.
        effects: dict[str, Any] = {}
        if d.count_pass_use and d.pass_id is not None:
            s.execute(
                update(VisitorPass)
                .where(VisitorPass.id == d.pass_id)
                .values(uses=VisitorPass.uses + 1)
            )
            effects["pass_id"] = d.pass_id
        household_id = d.household_id
        if plate is not None:
            # After the pass's use: an admin's deletion of the pass written at this moment
            # holds it, and is read as done.
            plate, household_id = self._as_on_file(record, plate, passage_id)
        effects = {"plate": plate, **effects}
        counted = True
        unrecorded_exit = False
        alarms_left: list[str] = []
        zone_id = record.zone_id
        if plate is not None:
            # Locked, and read afresh: the same plate's passage at another gate at this
            # moment (an exit at A as it enters B: a cloned plate, two cameras racing) was
            # decided on the same row. The second waits here for the first to commit and
            # sees what it did, and the lock is taken before any zone's, as every writer of
            # a presence row here takes them, so the two cannot deadlock on zones.
            existing = s.get(Presence, plate, with_for_update=True, populate_existing=True)
            if existing is None and record.direction is Direction.OUT:
                # Gone once the lock was had: an office's plate correction written at this
                # moment moved the car's row to the right plate (presence_corrections
                # .plate_corrected holds both rows as it does). The car leaving is that one.
                moved, _ = self._as_on_file(record, plate, passage_id)
                if moved != plate:
                    plate, effects["plate"] = moved, moved
                    existing = s.get(Presence, plate, with_for_update=True,
                                     populate_existing=True)
            if existing is None and _on_its_registration(record):
                existing, plate, household_id = self._registration_now(
                    record, passage_id, plate, household_id)
                effects["plate"] = plate
            if record.direction is Direction.IN:
                if existing is None:
                    row = self._entered(record, passage_id, household_id)
                    # Not None: another gate's entry of the plate committed it meanwhile.
                    existing = self._add_presence(plate, row)
                if existing is None:
                    effects.update(presence="added", row=_presence_row(Presence(**row)))
                elif _other_lot(existing, record.zone_id):
                    # Recorded inside another lot, it left that one unseen (tailgated out,
                    # its exit camera down): it is in this one now, and not in two at once.
                    moved_from, alarms_left = self._move_in(
                        existing, record, passage_id, household_id)
                    effects.update(moved_from)
                else:
                    # Soft anti-passback: a second entry is not a second car in the zone.
                    counted = False
            elif existing is not None:
                effects.update(presence="removed", row=_presence_row(existing))
                s.delete(existing)
                zone_id, counted = self._left_zone(existing, zone_id)
                # Recorded in no lot (in by a gate counting into none): the exit gate's lot
                # never counted it, and takes it off only as a car not recorded inside.
                unrecorded_exit = existing.zone_id is None
            else:
                unrecorded_exit = True
        # An undo or redo moves the zone this admission moved (_admission_effects).
        effects["zone_id"] = zone_id
        alarms: list[str] = list(alarms_left)
        if counted:
            effects["zone_moved"], alarms = self._count(
                record.direction, zone_id, unrecorded_exit=unrecorded_exit
            )
        if effects.get("pass_id") or effects.get("presence") or effects.get("zone_moved"):
            passage = s.get(Passage, passage_id)
            if passage is not None:
                passage.admission = effects
        return alarms

    def _registration_now(
        self, record: PassageRecord, passage_id: int, plate: str, household_id: int | None
    ) -> tuple[Presence | None, str, int | None]:
        """A car let in on its registration, about to be recorded inside under ``plate`` of
        household ``household_id``, as the car's row reads once locked: (the presence row of
        the plate it is recorded under then, locked; that plate; its household). An office's
        PATCH of the car (its plate corrected, moved to another flat) written at this moment
        holds the car's row from its UPDATE on, and then looks for the car inside: the new
        row this entry is writing, not yet committed, is not there for it to find, and the
        car stayed inside under the old plate (on the household's spaces for good, leaving
        under the new one unrecorded) or on the old flat's. Locked (FOR SHARE, which the
        UPDATE conflicts with), the entry waits for the PATCH and records the car as it
        stands after it, or the PATCH waits for the entry and finds its row. Only for a row
        not there yet: one there is locked already, and the PATCH waits for it.

        In the order every writer of these rows takes them: the presence row of the plate
        the car is on file under, the flat, then the car. A 搬离 of the flat takes its cars'
        presence rows, then the flat, then the car to delete it, and would wait on this for
        ever had it taken the car first. Which row and flat those are is read from the car
        before it is locked; a PATCH committed in between (which the car's lock waited for)
        names others, taken after the car: a 搬离 of the flat the car was moved to, holding
        that flat while it waited for the car, waited on this for ever (PostgreSQL's
        deadlock, the passage taken for an outage). So they are taken in a savepoint, and
        taken again, in order, when the car reads otherwise once locked."""
        s = self.session
        decided = record.decision.matched_plate or record.sighting.plate or plate
        on_file = self._as_on_file(record, decided, passage_id)
        for attempt in range(_REGISTRATION_READS):
            savepoint = s.begin_nested()
            if on_file[0] != plate:
                s.execute(select(Presence.plate).where(Presence.plate == on_file[0])
                          .with_for_update())
            self._still_there(Household, on_file[1])
            s.execute(select(Vehicle.id).where(Vehicle.id == record.decision.vehicle_id)
                      .with_for_update(read=True))
            now = self._as_on_file(record, decided, passage_id)
            if now == on_file or attempt == _REGISTRATION_READS - 1:
                savepoint.commit()
                break
            savepoint.rollback()  # its row locks go with it
            on_file = now
        now_plate, household_id = now
        existing = None
        if now_plate != plate:
            existing = s.get(Presence, now_plate, with_for_update=True, populate_existing=True)
        return existing, now_plate, household_id

    def _add_presence(self, plate: str, row: dict[str, Any]) -> Presence | None:
        """Record ``plate`` inside as ``row``; None when it is, else the row another gate's
        entry of the same plate committed meanwhile (none was there to lock when this one
        read: a cloned plate entering two lots at once), locked, for the caller to treat as
        a car already inside. That entry's INSERT made this one wait; a plain one would
        then fail on the duplicate key and lose the passage."""
        if self._insert_presence(plate, row):
            return None
        return self.session.get(Presence, plate, with_for_update=True, populate_existing=True)

    def _insert_presence(self, plate: str, row: dict[str, Any]) -> bool:
        """Add ``plate``'s presence row unless one is there; whether it was added. Where one
        is being added by another transaction, this waits for it to commit (and then adds
        nothing) instead of failing on the duplicate key once it has."""
        s = self.session
        insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
        added = s.execute(
            insert(Presence).values(plate=plate, **row)
            .on_conflict_do_nothing(index_elements=[Presence.plate])
            .returning(Presence.plate)
        ).first()
        return added is not None

    def _as_on_file(self, record: PassageRecord, plate: str, passage_id: int
                    ) -> tuple[str, int | None]:
        """The plate and household a passage of ``plate`` is recorded under: as the office's
        records stand now, not as its decision read them. A passage decided during an
        outage, from a snapshot up to 30 s old, is written back once the database answers,
        possibly after the office corrected the car (api/routes/admin.py), whose correction
        found the car where the database had it before this passage. Written as it was
        decided, an entry left a row under the old plate (on the household's spaces for
        good, the car leaving under the new one unrecorded), and an exit took nothing off a
        car the correction had moved to the new plate. So the state is what the passage
        written first and then corrected would have left, as online:

        - a car let in on its registration is recorded under its plate and household now
          (deleted since: on the household the plate is registered to now, if any, as a
          deletion and a registration leave a car inside: vehicle.create);
        - a visitor let in on a pass, under the pass's plate now (deleted since: on no
          household's spaces);
        - an exit of a car not recorded inside under ``plate`` takes it out where a
          correction moved it (``_moved_by_correction``), if it was decided on the car
          inside under ``plate`` (``_decided_inside``).

        Online the decision and this read are one transaction: only what is written at this
        moment is read (a pass deleted as its visitor's entry is written: after its use, which
        waits for the deletion)."""
        d = record.decision
        return self._on_file(
            record.direction, plate, record.sighting.at, vehicle_id=d.vehicle_id,
            pass_id=d.pass_id if d.count_pass_use else None, household_id=d.household_id,
            # Only an exit follows a correction; an entry's reason is not read for it.
            decided_inside=record.direction is not Direction.OUT
            or self._decided_inside(record, passage_id))

    def _decided_inside(self, record: PassageRecord, passage_id: int) -> bool:
        """Whether an exit was decided on a car recorded inside under its plate, as the
        passage's reason says (for a guard's release, the reason it was held for). Only such
        a car can have been moved by a correction since: one decided not recorded inside
        under the plate another car's row was once recorded under (the plate mistyped on a
        pass or car, corrected since) is another car. Following the correction took the
        corrected car out of the cars inside while it was still parked: its zone one short,
        and it then left as a car not recorded inside."""
        passage = self.session.get(Passage, passage_id)
        reason = passage.reason if passage is not None else record.decision.reason
        return reason not in NOT_INSIDE_EXITS

    def _on_file(
        self, direction: Direction, plate: str, at: datetime, *, vehicle_id: int | None,
        pass_id: int | None, household_id: int | None, decided_inside: bool = True,
    ) -> tuple[str, int | None]:
        """``_as_on_file`` of a passage at ``at`` decided on car ``vehicle_id`` (or on visitor
        pass ``pass_id``, whose use it counted) of household ``household_id``;
        ``decided_inside``: an exit decided on the car recorded inside (``_decided_inside``)."""
        s = self.session
        if direction is Direction.OUT:
            # Read, not the session's copy: after a lock that found the row gone, that copy
            # can be the row as it was.
            if s.scalar(select(Presence.plate).where(Presence.plate == plate)) is not None:
                return plate, household_id
            if vehicle_id is not None:
                now_plate = s.scalar(select(Vehicle.plate).where(Vehicle.id == vehicle_id))
                if now_plate is not None:
                    return now_plate, household_id
            if not decided_inside:
                return plate, household_id
            return self._moved_by_correction(plate, at), household_id
        if pass_id is not None:
            on_pass = s.execute(select(VisitorPass.plate).where(VisitorPass.id == pass_id)
                                ).first()
            if on_pass is None:
                # Deleted since (services/presence_corrections.pass_deleted): inside on no
                # household's spaces, as a deletion leaves a car already inside; not the
                # host's own car.
                return plate, None
            return on_pass.plate or plate, household_id
        if vehicle_id is None:
            return plate, household_id
        vehicle = s.execute(select(Vehicle.plate, Vehicle.household_id)
                            .where(Vehicle.id == vehicle_id)).first()
        if vehicle is not None:
            return vehicle.plate, vehicle.household_id
        return plate, s.scalar(select(Vehicle.household_id).where(Vehicle.plate == plate))

    def _moved_by_correction(self, plate: str, before: datetime) -> str:
        """The plate a car recorded inside under ``plate`` (by an entry before ``before``) is
        recorded under now, if an office's correction moved its row (presence_corrections
        .plate_corrected: the row keeps its entry passage, which names ``plate``); else
        ``plate``. A row's plate differs from its entry's only by such a correction."""
        recorded_as = func.coalesce(Passage.resolved_plate, Passage.matched_plate, Passage.plate)
        moved = self.session.scalar(
            select(Presence.plate).join(Passage, Passage.id == Presence.passage_id)
            .where(recorded_as == plate, Presence.plate != plate,
                   Presence.entered_at <= before)
            .order_by(Presence.entered_at.desc()).limit(1)
        )
        return moved or plate

    def _entered(
        self, record: PassageRecord, passage_id: int, household_id: int | None
    ) -> dict[str, Any]:
        """The presence row an allowed entry records, but its plate; ``household_id``: whose
        car it is (``_as_on_file``)."""
        d = record.decision
        return {
            "zone_id": record.zone_id,
            "household_id": self._still_there(Household, household_id),
            "pass_id": self._still_there(VisitorPass, d.pass_id if d.count_pass_use else None),
            "entered_at": record.sighting.at,
            "passage_id": passage_id,
        }

    def _move_in(self, existing: Presence, record: PassageRecord, passage_id: int,
                 household_id: int | None) -> tuple[dict[str, Any], list[str]]:
        """A car recorded inside one lot let in by another lot's gate: its row becomes this
        entry's, and the lot it was in comes down one as an unseen exit would (its clamp and
        alarm, a retired zone moving nothing: ``_off_its_zone``). The entry's own count
        follows in ``apply_admission`` as any entry's. Returns the admission's effects of
        the move and the alarms of the lot it left."""
        self._lock_zones(existing.zone_id, record.zone_id)
        left_row = _presence_row(existing)
        left_zone, left_moved, alarms = self._off_its_zone(existing)
        for key, value in self._entered(record, passage_id, household_id).items():
            setattr(existing, key, value)
        return {"presence": "moved", "row": _presence_row(existing), "left_row": left_row,
                "left_zone_id": left_zone, "left_zone_moved": left_moved}, alarms

    def _lock_zones(self, *zone_ids: str | None) -> None:
        """Lock the zones a move changes in one order, so two cars moving opposite ways
        between two lots at once cannot each hold the lock the other waits for."""
        wanted = sorted({z for z in zone_ids if z is not None})
        if len(wanted) > 1:
            self.session.execute(
                select(Zone.id).where(Zone.id.in_(wanted)).order_by(Zone.id).with_for_update()
            )

    def _off_its_zone(self, left: Presence) -> tuple[str | None, int, list[str]]:
        """Take a car that left unseen off the zone that counted it in, as its exit would
        have: (that zone, how far it moved: -1, or 0 clamped or counted nowhere, alarms)."""
        zone_id, counted = self._left_zone(left, None)
        moved, alarms = self._count(Direction.OUT, zone_id) if counted else (0, [])
        return zone_id, moved, alarms

    def _left_zone(self, left: Presence, gate_zone: str | None) -> tuple[str | None, bool]:
        """The zone a car recorded inside comes off as it leaves, and whether it is counted
        there at all."""
        # The zone that counted it in, whichever gate it leaves by (two lots sharing the
        # community's main exit, a driver taking the other lot's exit): the exit gate's zone
        # never counted it, and would drift low. Counted into a zone retired since
        # (services/site.py), whose count was dropped then: no zone counts it now.
        zone_id = left.zone_id if left.zone_id is not None else gate_zone
        return zone_id, not self._retired(left.zone_id)

    def mark_left(self, plate: str, passage_id: int | None) -> LeftUnseen | None:
        """A car recorded inside that left without its exit being read (tailgating out, an
        exit camera down), as a guard found: its presence row goes and its zone comes down
        one exactly as an allowed exit's would. ``passage_id``: the entry the guard saw
        (None: whichever is recorded). None, with nothing changed, when the car is not
        recorded inside under that entry: it left, or left and came in again, meanwhile."""
        s = self.session
        existing = s.get(Presence, plate, populate_existing=True)
        if existing is None or passage_id not in (None, existing.passage_id):
            return None
        row = _presence_row(existing)
        # A conditional DELETE claims the row: an exit or a second guard removing it at the
        # same moment leaves this one with no row, so the zone is not taken off twice.
        claimed = s.execute(
            delete(Presence)
            .where(Presence.plate == plate, Presence.passage_id == existing.passage_id)
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return None
        s.expunge(existing)
        zone_id, moved, alarms = self._off_its_zone(existing)
        return LeftUnseen(plate, row, zone_id, moved, alarms)

    def _retired(self, zone_id: str | None) -> bool:
        zone = self.session.get(Zone, zone_id) if zone_id is not None else None
        return zone is not None and zone.retired_at is not None

    def _still_there(self, model: type[Household] | type[VisitorPass], key: int | None
                     ) -> int | None:
        """``key`` if that row still exists, else None. A passage decided offline from a
        snapshot up to 30 s old can name a household or pass deleted since: its presence row
        must still be written (the journal behind it waits on it), just without the link.
        Online too: a 搬离 of the flat written at this moment (services/household_move_out.py)
        holds it and deletes it with its passes. Read afresh under a key-share lock (what the
        row's foreign key check takes), this waits for the move-out and then finds it gone;
        the decision's own read said it was there, and the row written with it failed on the
        foreign key, the passage lost. After the car's presence row, as the move-out takes
        them (its cars' rows, then the flat).

        FOR KEY SHARE (``read`` with ``key_share``; ``key_share`` alone is FOR NO KEY UPDATE,
        which two entries take against each other): a car of the flat moving between lots
        reads it after it has locked both lots, and held them while it waited for the flat's
        other car let in at one of those lots at that moment, which held the flat while it
        waited for that lot (PostgreSQL's deadlock, one passage taken for an outage)."""
        if key is None:
            return None
        return self.session.scalar(
            select(model.id).where(model.id == key).with_for_update(read=True, key_share=True)
        )

    def undo_admission(self, passage_id: int) -> bool:
        passage = self.session.get(Passage, passage_id, with_for_update=True)
        if passage is None or not passage.admission or ADMISSION_UNDONE in (passage.flags or []):
            return False
        if passage.anonymised_at is not None:
            # Past retention it keeps only the zone it moved, for the reports: a guard's
            # open naming a passage that old moved no car then and takes nothing back.
            return False
        self._admission_effects(passage, back=True)
        passage.flags = [*(passage.flags or []), ADMISSION_UNDONE]
        return True

    def redo_admission(self, passage_id: int) -> bool:
        passage = self.session.get(Passage, passage_id, with_for_update=True)
        flags = (passage.flags or []) if passage is not None else []
        if passage is None or not passage.admission or ADMISSION_UNDONE not in flags:
            return False
        if self._left_since(passage):
            return False  # the car got out on a later try, which counted it: not twice
        if not self._admission_effects(passage, back=False):
            return False  # counted already (let in when it tried again): still not by this one
        passage.flags = [f for f in flags if f != ADMISSION_UNDONE]
        return True

    def _left_since(self, passage: Passage) -> bool:
        """Whether a later exit of the same car was counted, for an exit of a car that was not
        recorded inside (its admission holds no presence row to tell by)."""
        effects = passage.admission or {}
        plate = effects.get("plate")
        if passage.direction != Direction.OUT or plate is None or effects.get("presence"):
            return False
        later = self.session.execute(
            select(Passage.admission, Passage.flags).where(
                or_(Passage.plate == plate, Passage.matched_plate == plate),
                Passage.direction == Direction.OUT, Passage.id > passage.id,
            )
        )
        # An exit that counted: it has effects and they were not taken back.
        return any(admission and ADMISSION_UNDONE not in (flags or [])
                   for admission, flags in later)

    def _admission_effects(self, passage: Passage, *, back: bool) -> bool:
        """Apply a passage's recorded admission effects again, or take them back (``back``);
        returns whether they were. A car is only put where no row is, and an entry's own row
        only is removed: a car that tried again and was let in meanwhile keeps its row, and is
        not counted twice, in the zone or on its visitor pass."""
        s = self.session
        passage_id = passage.id
        effects: dict[str, Any] = passage.admission or {}
        if effects.get("pass_id") is not None:
            # The pass's row before the car's presence row, as apply_admission takes them
            # (its use, then the row, then zones): the same visitor let in at another gate at
            # this moment holds its pass while it waits for the row, and would wait on this
            # for ever (a deadlock) had this taken the row first.
            s.execute(select(VisitorPass.id).where(VisitorPass.id == effects["pass_id"])
                      .with_for_update())
        # A guard's open minutes after the barrier failed: the office may have corrected the
        # car meanwhile, as after an outage (_as_on_file). So may the fault itself, a moment
        # after the admission: the correction moved the row the entry added to the right
        # plate, or found the car the exit took out gone; taken back as recorded, the entry
        # found nothing under the old plate to take (the car that did not come in counted,
        # inside under the right one) and the exit put the car back under the old plate.
        effects = self._given_back_as_on_file(passage, effects)
        plate, presence = effects.get("plate"), effects.get("presence")
        counted = True
        if plate is not None and presence == "moved":
            counted = self._move_again(plate, effects, back=back)
        elif plate is not None and presence is not None:
            # Taking an entry back, or giving an exit back, removes the car; the other two
            # put it (back) in.
            if (presence == "added") == back:
                own = [Presence.passage_id == passage_id] if presence == "added" else []
                removed = s.execute(delete(Presence).where(Presence.plate == plate, *own))
                counted = bool(removed.rowcount)  # type: ignore[attr-defined]
            else:
                # Not where the car is recorded inside already (not counted twice), also by
                # an entry of the plate at another gate written at this moment. The row
                # locked before its household and pass are read, as apply_admission does.
                s.execute(select(Presence.plate).where(Presence.plate == plate)
                          .with_for_update())
                counted = self._insert_presence(plate, self._row_now(effects["row"]))
        if counted and effects.get("pass_id") is not None:
            uses = VisitorPass.uses - 1 if back else VisitorPass.uses + 1
            query = update(VisitorPass).where(VisitorPass.id == effects["pass_id"])
            s.execute((query.where(VisitorPass.uses > 0) if back else query).values(uses=uses))
        moved = int(effects.get("zone_moved") or 0)
        if counted and moved and effects.get("zone_id"):
            self._move_zone(effects["zone_id"], -moved if back else moved)
        if counted and effects != passage.admission:
            # Where the car is now, for a barrier that fails again to take back.
            passage.admission = effects
        return counted

    def _given_back_as_on_file(self, passage: Passage, effects: dict[str, Any]
                               ) -> dict[str, Any]:
        """``effects`` of an entry or exit given or taken back, as the records stand now.
        Given back as recorded, an entry whose pass or car the office corrected since its barrier
        failed was put inside under the old plate (on the host's or household's spaces, and
        counted, for good; the car leaving under the new plate unrecorded), and an exit took
        nothing off a car the correction had moved to the new plate."""
        plate, presence = effects.get("plate"), effects.get("presence")
        if plate is None or presence not in ("added", "removed", "moved"):
            return effects
        if presence == "removed":
            now_plate, _ = self._on_file(Direction.OUT, plate, passage.at,
                                         vehicle_id=passage.vehicle_id, pass_id=None,
                                         household_id=None)
            return effects if now_plate == plate else {**effects, "plate": now_plate}
        row = effects["row"]
        # The controller's car, not a plate a guard typed for another one (services/review.py).
        own_car = row.get("pass_id") is None and plate in (passage.matched_plate, passage.plate)
        now_plate, household_id = self._on_file(
            Direction.IN, plate, passage.at,
            vehicle_id=passage.vehicle_id if own_car else None,
            pass_id=effects.get("pass_id"), household_id=row.get("household_id"))
        if (now_plate, household_id) == (plate, row.get("household_id")):
            return effects
        # A move between lots (_move_again) finds the car's row under the plate it is
        # recorded under now: under the old one it found none, and gave the car back into
        # the lot it entered under that plate, recorded in both lots and counted in both.
        return {**effects, "plate": now_plate, "row": {**row, "household_id": household_id}}

    def _row_now(self, row: dict[str, Any]) -> dict[str, Any]:
        """A presence row recorded with an admission, to be written again: without a
        household or pass deleted since (whose foreign key failed the write, and the guard's
        open with it), and a visitor's car whose pass is gone on no household's spaces, as
        ``presence_corrections.pass_deleted`` leaves one inside (not the host's own car)."""
        values = _presence_values(row)
        pass_id = self._still_there(VisitorPass, values.get("pass_id"))
        household_id = self._still_there(Household, values.get("household_id"))
        if values.get("pass_id") is not None and pass_id is None:
            household_id = None
        return {**values, "household_id": household_id, "pass_id": pass_id}

    def _move_again(self, plate: str, effects: dict[str, Any], *, back: bool) -> bool:
        """Take a move between lots back (``back``: the car is in its first lot again, with
        its first entry) or give it back; returns whether it was. Only from where the move
        left the car: one that left or came in again since keeps where that put it. The
        entry's own zone is moved by the caller; the lot it left is moved here."""
        s = self.session
        own, before = effects["row"], effects["left_row"]
        frm, to = (own, before) if back else (before, own)
        # A conditional UPDATE claims the row, as mark_left's DELETE does: an exit or a
        # guard's 标记已离场 at the same moment leaves it nothing to move. The row before the
        # zones, as apply_admission takes them: an exit of the car holding its row while it
        # waits for a zone this took first would wait on it for ever (a deadlock). Locked
        # before the household and pass it names are read (_row_now), as apply_admission does.
        s.execute(select(Presence.plate).where(Presence.plate == plate).with_for_update())
        to_now = self._row_now(to)
        moved = s.execute(
            update(Presence)
            .where(Presence.plate == plate, Presence.passage_id.is_not_distinct_from(
                frm["passage_id"]))
            .values(**to_now)
        )
        self._lock_zones(effects.get("left_zone_id"), effects.get("zone_id"))
        if moved.rowcount:  # type: ignore[attr-defined]
            left_moved = int(effects.get("left_zone_moved") or 0)
            if left_moved and effects.get("left_zone_id"):
                self._move_zone(effects["left_zone_id"], -left_moved if back else left_moved)
            return True
        if back:
            return False
        # Given back to a car no longer recorded in its first lot (a guard marked it left
        # meanwhile, which took that lot down): it is put in this one only, unless it is
        # recorded inside again.
        return self._insert_presence(plate, to_now)  # own, given back

    def _count(
        self, direction: Direction, zone_id: str | None, *, unrecorded_exit: bool = False
    ) -> tuple[int, list[str]]:
        """Move ``zone_id``'s count; returns how far it moved (0 when clamped) and alarm
        kinds. ``unrecorded_exit``: a car left that was not recorded inside
        (apply_unrecorded_exit)."""
        if zone_id is None:
            return 0, []
        zone = self.session.get(Zone, zone_id, with_for_update=True)
        if zone is None or zone.retired_at is not None:
            # A journalled passage written back after its gate's zone was retired: the
            # retired count stays at 0 (services/site.py).
            return 0, []
        before = zone.occupied
        current = ZoneOccupancy(zone.id, zone.capacity, zone.occupied)
        if unrecorded_exit:
            inside = self.session.scalar(
                select(func.count()).select_from(Presence).where(Presence.zone_id == zone.id)
            )
            change = apply_unrecorded_exit(current, int(inside or 0))
        else:
            change = apply_passage(current, direction)
        self._set_zone(zone, change.occupancy.occupied)
        return zone.occupied - before, [change.alarm] if change.alarm else []

    def _move_zone(self, zone_id: str, moved: int) -> None:
        zone = self.session.get(Zone, zone_id, with_for_update=True)
        if zone is not None and zone.retired_at is None:
            current = ZoneOccupancy(zone.id, zone.capacity, zone.occupied)
            self._set_zone(zone, move_by(current, moved).occupied)

    def _set_zone(self, zone: Zone, occupied: int) -> None:
        zone.occupied = occupied
        zone.updated_at = utcnow()
        self.session.add(
            OccupancySample(zone_id=zone.id, occupied=zone.occupied, capacity=zone.capacity)
        )

    def raise_alarm(
        self, kind: str, *, gate_id: str | None, passage_id: int | None, message: str,
        at: datetime | None = None,
    ) -> int:
        alarm = Alarm(kind=kind, gate_id=gate_id, passage_id=passage_id, message=message[:500])
        if at is not None:
            alarm.at = at
        self.session.add(alarm)
        self.session.flush()
        return alarm.id

    def open_alarm_like(
        self, kind: str, *, gate_id: str | None, message: str | None, since: datetime
    ) -> int | None:
        query = select(Alarm.id).where(Alarm.kind == kind, Alarm.gate_id == gate_id)
        if message is not None:
            query = query.where(Alarm.message == message)
        return self.session.scalar(
            query.where(Alarm.acknowledged_at.is_(None), Alarm.at >= since)
            .order_by(Alarm.id.desc())
            .limit(1)
        )

    def link_alarm(self, alarm_id: int, passage_id: int) -> None:
        self.session.execute(
            update(Alarm)
            .where(Alarm.id == alarm_id, Alarm.passage_id.is_(None))
            .values(passage_id=passage_id)
        )

    def reword_alarm(self, alarm_id: int, message: str) -> bool:
        changed = self.session.execute(
            update(Alarm)
            .where(Alarm.id == alarm_id, Alarm.acknowledged_at.is_(None))
            .values(message=message)
        )
        return bool(changed.rowcount)  # type: ignore[attr-defined]

    def passage_view(self, passage_id: int) -> dict[str, Any]:
        passage = self.session.get(Passage, passage_id)
        assert passage is not None
        return passage_to_dict(passage)

    def has_journal_entry(self, journal_id: str) -> bool:
        found = self.session.scalar(
            select(Passage.id).where(Passage.journal_id == journal_id).limit(1)
        )
        return found is not None

    def set_outcome(self, passage_id: int, outcome: str) -> None:
        self.session.execute(
            update(Passage).where(Passage.id == passage_id).values(barrier_outcome=outcome)
        )

    def outcome_of(self, passage_id: int) -> str | None:
        return self.session.scalar(
            select(Passage.barrier_outcome).where(Passage.id == passage_id)
        )

    def journal_passage(self, journal_id: str) -> int | None:
        return self.session.scalar(
            select(Passage.id).where(Passage.journal_id == journal_id).limit(1)
        )

    def is_inside(self, plate: str) -> bool:
        return self.session.get(Presence, plate) is not None

    def snapshot(self, now: datetime) -> AccessSnapshot:
        """What ``permits`` would return for every known plate, in five queries."""
        s = self.session
        households = {h.id: h for h in s.scalars(select(Household))}
        spaces = {hid: h.spaces for hid, h in households.items()}
        presence = {p.plate: p for p in s.scalars(select(Presence))}
        # Residents' own cars inside per household (visitors' cars do not use its spaces).
        own_inside = Counter(
            p.household_id for p in presence.values()
            if p.household_id is not None and p.pass_id is None
        )
        vehicles = {v.plate: v for v in s.scalars(select(Vehicle).order_by(Vehicle.id))}
        passes: defaultdict[str, list[PassPermit]] = defaultdict(list)
        walk_in: list[PassPermit] = []
        current = select(VisitorPass).where(_pass_still_current(now)).order_by(VisitorPass.id)
        for visitor_pass in s.scalars(current):
            if visitor_pass.plate is None:  # QR code only: no plate for a gate to look up
                walk_in.append(pass_permit(visitor_pass))
            else:
                passes[visitor_pass.plate].append(pass_permit(visitor_pass))
        entries: dict[str, ListEntry] = {}
        for entry in s.scalars(select(PlateListEntry).order_by(PlateListEntry.id)):
            entries.setdefault(entry.plate, ListEntry(entry.kind, entry.reason))  # type: ignore[arg-type]
        permits: dict[str, Permits] = {}
        for plate in set(vehicles) | set(passes) | set(entries) | set(presence):
            vehicle = vehicles.get(plate)
            vehicle_permit = None
            if vehicle is not None:
                here = presence.get(plate)
                mine = here is not None and here.pass_id is None and (
                    here.household_id == vehicle.household_id
                )
                vehicle_permit = _vehicle_permit(
                    vehicle,
                    spaces.get(vehicle.household_id, 1),
                    own_inside[vehicle.household_id] - int(mine),
                )
            permits[plate] = Permits(
                vehicle=vehicle_permit,
                passes=tuple(passes.get(plate, ())),
                list_entry=entries.get(plate),
                inside=plate in presence,
            )
        # Only the households a gate can name offline (a car's, a pass's host): the booth's
        # row of such a passage shows the flat, and no other household is written to disk.
        named = {p.vehicle.household_id for p in permits.values() if p.vehicle is not None}
        named.update(p.household_id for p in walk_in)
        named.update(p.household_id for plated in passes.values() for p in plated)
        labels = {hid: households[hid].label for hid in sorted(named) if hid in households}
        return AccessSnapshot(taken_at=now, permits=permits, walk_in_passes=tuple(walk_in),
                              household_labels=labels)


def off_its_zone(session: Session, left: Presence) -> tuple[str | None, int]:
    """Take a car recorded inside off the zone that counted it in, as its unseen exit would
    (a guard's 标记已离场, ``_Unit.mark_left``): (that zone, how far it moved: -1, or 0
    clamped at 0 or counted nowhere). For an office's correction in its own transaction;
    the caller removes the row."""
    unit = _Unit(session, max_distance=0, province_tolerance=False)
    zone_id, moved, _ = unit._off_its_zone(left)
    return zone_id, moved


def _presence_row(presence: Presence) -> dict[str, Any]:
    return {
        "zone_id": presence.zone_id,
        "household_id": presence.household_id,
        "pass_id": presence.pass_id,
        "entered_at": presence.entered_at.isoformat(),
        "passage_id": presence.passage_id,
    }


def _presence_values(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "entered_at": datetime.fromisoformat(row["entered_at"])}


def _on_its_registration(record: PassageRecord) -> bool:
    """Whether an entry was let in on a registered car (not on a visitor pass, whose row
    the entry's counted use locks already)."""
    d = record.decision
    return (record.direction is Direction.IN and d.vehicle_id is not None
            and not (d.count_pass_use and d.pass_id is not None))


def _other_lot(inside: Presence, gate_zone: str | None) -> bool:
    """Whether an entry by a gate of ``gate_zone`` is into another lot than the one the car
    is recorded in. A row with no zone was written by a gate configured with none (the
    community's main entrance): the car is inside, in no lot that counts it, so a lot's
    gate letting it in is where it is now. It moves as from another lot, with nothing to
    come off (``_off_its_zone`` counts no zone), and the lot counts it as any entry."""
    return gate_zone is not None and inside.zone_id != gate_zone


class SqlAccessStore:
    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        max_distance: int = 1,
        province_tolerance: bool = False,
    ) -> None:
        self._factory = factory
        self._max_distance = max_distance
        self._province_tolerance = province_tolerance

    @contextmanager
    def unit(self) -> Iterator[_Unit]:
        # A car must not wait at the barrier for a lock held elsewhere: after a short wait
        # the runtime decides it offline and journals it (models/db.py).
        with (
            outage_as_unavailable(),
            transaction(self._factory, busy_timeout_ms=GATE_BUSY_TIMEOUT_MS) as session,
        ):
            yield _Unit(
                session,
                max_distance=self._max_distance,
                province_tolerance=self._province_tolerance,
            )

    def availability_view(self) -> dict[str, Any]:
        with outage_as_unavailable(), self._factory() as session:
            return availability(session)

    def snapshot(self, now: datetime) -> AccessSnapshot:
        with self.unit() as unit:
            return unit.snapshot(now)

