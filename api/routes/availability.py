"""Free spaces per zone: public and read-only; corrections need an admin."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.deps import AdminUser, ServicesDep, SessionDep
from api.routes.admin import audit
from api.routes.parking import (
    RateLimited,
    cached_response,
    render_availability,
    stale_age_s,
    zone_snapshot,
)
from api.schemas import Availability, OccupancyCorrection, ZoneAvailability
from controllers.occupancy import correct
from controllers.policy import ZoneOccupancy
from errors import InvalidInputError, NotFoundError
from models.base import utcnow
from models.site import OccupancySample, Zone

router = APIRouter(prefix="/api/v1", tags=["availability"])


@router.get(
    "/availability",
    response_model=Availability,
    summary="Free spaces (public, ETag)",
    dependencies=[RateLimited],
    responses={304: {"description": "Unchanged since the ETag in If-None-Match."}},
)
async def get_availability(request: Request) -> Response:
    # Served from a body precomputed once per change (services/availability_cache.py).
    services = request.app.state.services
    snap = await zone_snapshot(services)
    entry = services.parking.zones_cache.body(render_availability, snap)
    return cached_response(request, entry, stale_age_s(snap))


# ":path": a zone id is whatever the configuration names it, "B1/B2" included; the
# server decodes a %2F before routing, so a plain {zone_id} answered 404 for it.
@router.put("/zones/{zone_id:path}/occupancy", response_model=ZoneAvailability)
def correct_occupancy(
    zone_id: str,
    body: OccupancyCorrection,
    session: SessionDep,
    services: ServicesDep,
    user: AdminUser,
) -> ZoneAvailability:
    """Set a zone's count after a physical check (drift from missed reads or tailgating)."""
    zone = session.get(Zone, zone_id, with_for_update=True)
    if zone is None:
        raise NotFoundError(f"zone {zone_id!r} not found")
    if zone.retired_at is not None:
        # Its cars are counted nowhere now: the count to correct is the zone they are in.
        raise NotFoundError(f"zone {zone_id!r} is no longer configured")
    try:
        fixed = correct(ZoneOccupancy(zone.id, zone.capacity, zone.occupied), body.occupied)
    except ValueError as err:
        raise InvalidInputError(str(err)) from err
    before = zone.occupied
    zone.occupied = fixed.occupied
    zone.updated_at = utcnow()
    session.add(OccupancySample(zone_id=zone.id, occupied=zone.occupied, capacity=zone.capacity))
    audit(session, user, "zone.correct", f"zone:{zone_id}", before=before,
          after=fixed.occupied, reason=body.reason)
    answer = ZoneAvailability(
        id=zone.id, name=zone.name, capacity=zone.capacity, occupied=zone.occupied,
        free=fixed.free, updated_at=zone.updated_at,
    )
    # Committed before the counts are read and published: published from this uncommitted
    # session, a passage's read begun meanwhile (without the correction) could go out after
    # it and stay on the boards and the retained city topic as the zone's count.
    session.commit()
    services.runtime.zone_counts.publish_now()
    return answer
