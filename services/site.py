"""Mirror the configured zones and gates into the database at start-up.

A zone the configuration no longer names (the property office merged B into A, or renamed a
zone's id) is retired, not deleted: its passages and samples stay and the day reports of the
days it was configured still list it, but it leaves availability (the API, the live streams,
the city feed, guidance's "park anywhere in zone X") and stops counting. The cars it still
counted are not carried on: the count drops to 0 (a sample says so, so the reports' lines end
there) and a warning names how many there were, since they are in the car park still and
uncounted wherever they are now. Such a car's exit later takes it off no count
(models/access_store.py): the zone whose gate it leaves by never counted it in. A zone named
again is brought back with the cars recorded inside it as its count.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.events import Passage
from models.site import Gate, OccupancySample, Zone, ZonePeriod
from models.vehicles import Presence
from settings import CommunityConfig, ZoneConfig

logger = logging.getLogger(__name__)


def sync_site(
    session: Session, community: CommunityConfig, *, now: datetime | None = None
) -> None:
    """Create, update, retire or bring back zones and create or update gates from the
    configuration; the counts of zones still configured are kept."""
    now = now or utcnow()
    # A zone a database starts with was configured for all of its history (none yet); one
    # added later was not there on the days before.
    since = None if _no_history(session) else now
    configured = {zc.id for zc in community.zones}
    for zc in community.zones:
        zone = session.get(Zone, zc.id)
        if zone is None:
            session.add(Zone(id=zc.id, name=zc.name, capacity=zc.capacity, occupied=0))
            session.add(ZonePeriod(zone_id=zc.id, since=since))
            continue
        _update(session, zone, zc, now)
    for zone in session.scalars(
        select(Zone).where(Zone.id.not_in(configured), Zone.retired_at.is_(None))
    ).all():
        _retire(session, zone, now)
    session.flush()
    gates = {g.id for g in community.gates}
    for gc in community.gates:
        gate = session.get(Gate, gc.id)
        if gate is None:
            gate = Gate(id=gc.id)
            session.add(gate)
        gate.name, gate.kind, gate.direction, gate.zone_id = gc.name, gc.kind, gc.direction, gc.zone
    for stale in session.scalars(select(Gate).where(Gate.id.not_in(gates))):
        logger.info("gate %s is no longer configured; its passages are kept", stale.id)


def _no_history(session: Session) -> bool:
    return all(
        session.scalar(select(column).limit(1)) is None
        for column in (Passage.id, OccupancySample.id)
    )


def _periods(session: Session, zone_id: str) -> list[ZonePeriod]:
    return list(session.scalars(
        select(ZonePeriod).where(ZonePeriod.zone_id == zone_id).order_by(ZonePeriod.id)
    ))


def _update(session: Session, zone: Zone, zc: ZoneConfig, now: datetime) -> None:
    zone.name = zc.name
    if zone.capacity != zc.capacity:
        logger.info("zone %s capacity %d → %d", zc.id, zone.capacity, zc.capacity)
        zone.capacity = zc.capacity
        if zone.occupied > zc.capacity:
            # The cars over the new capacity are still parked there: say how many the count
            # lost, and sample the cut so the reports' line drops where the count did.
            logger.warning(
                "zone %s count cut from %d to %d, its new capacity: %d car(s) counted in it "
                "are no longer counted (correct the count if they are still parked there)",
                zc.id, zone.occupied, zc.capacity, zone.occupied - zc.capacity,
            )
            _set_count(session, zone, zc.capacity, now)
    if zone.retired_at is not None:
        _bring_back(session, zone, now)
        return
    periods = _periods(session, zone.id)
    if not any(p.until is None for p in periods):
        # No span yet: configured since before spans were kept (migration 0017), so since
        # before its history.
        session.add(ZonePeriod(zone_id=zone.id, since=now if periods else None))


def _bring_back(session: Session, zone: Zone, now: datetime) -> None:
    # Its count was dropped when it was retired; the cars recorded inside it since before
    # then (and not seen leaving) are the best count there is.
    inside = session.scalar(
        select(func.count()).select_from(Presence).where(Presence.zone_id == zone.id)
    ) or 0
    zone.retired_at = None
    session.add(ZonePeriod(zone_id=zone.id, since=now))
    _set_count(session, zone, min(int(inside), zone.capacity), now)
    logger.info("zone %s is configured again: counting from %d car(s) recorded inside it",
                zone.id, zone.occupied)


def _retire(session: Session, zone: Zone, now: datetime) -> None:
    left = zone.occupied
    if left:
        logger.warning(
            "zone %s is no longer configured: retired with %d car(s) still counted in it, "
            "which no zone counts now (correct the count of the zone they are in)",
            zone.id, left,
        )
    else:
        logger.info("zone %s is no longer configured: retired (no car counted in it)", zone.id)
    zone.retired_at = now
    _set_count(session, zone, 0, now)
    periods = _periods(session, zone.id)
    for period in periods:
        if period.until is None:
            period.until = now
    if not periods:
        session.add(ZonePeriod(zone_id=zone.id, since=None, until=now))


def _set_count(session: Session, zone: Zone, occupied: int, now: datetime) -> None:
    if zone.occupied == occupied:
        return
    zone.occupied = occupied
    zone.updated_at = now
    session.add(
        OccupancySample(at=now, zone_id=zone.id, occupied=occupied, capacity=zone.capacity)
    )
