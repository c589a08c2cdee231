"""Mirror the configured zones and gates into the database at start-up."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.site import Gate, Zone
from settings import CommunityConfig

logger = logging.getLogger(__name__)


def sync_site(session: Session, community: CommunityConfig) -> None:
    """Create or update zones and gates from the configuration; counts are kept."""
    for zc in community.zones:
        zone = session.get(Zone, zc.id)
        if zone is None:
            session.add(Zone(id=zc.id, name=zc.name, capacity=zc.capacity, occupied=0))
            continue
        zone.name = zc.name
        if zone.capacity != zc.capacity:
            logger.info("zone %s capacity %d → %d", zc.id, zone.capacity, zc.capacity)
            zone.capacity = zc.capacity
            zone.occupied = min(zone.occupied, zc.capacity)
    session.flush()
    configured = {g.id for g in community.gates}
    for gc in community.gates:
        gate = session.get(Gate, gc.id)
        if gate is None:
            gate = Gate(id=gc.id)
            session.add(gate)
        gate.name, gate.kind, gate.direction, gate.zone_id = gc.name, gc.kind, gc.direction, gc.zone
    for stale in session.scalars(select(Gate).where(Gate.id.not_in(configured))):
        logger.info("gate %s is no longer configured; its passages are kept", stale.id)
