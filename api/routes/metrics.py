"""GET /metrics: Prometheus text exposition for the community's operators.

Scraped with the bearer token ``api.metrics_token`` (a Prometheus scrape config holds one
fixed credential; staff logins expire), or by an admin's login for a look by hand.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import ServicesDep, admin_from, oauth2_scheme
from api.routes.health import database_answers
from errors import AuthenticationError, StoreUnavailableError
from services.container import Services
from services.metrics import SiteState

router = APIRouter(tags=["health"])


async def site_state(services: Services) -> SiteState:
    database = await asyncio.to_thread(database_answers, services)
    zones: dict[str, tuple[int, int]] = {}
    stale = False
    try:
        # No parking service (services/container.py always builds one): no zones.
        snapshot = (
            await services.parking.zones_cache.current() if services.parking is not None else None
        )
    except StoreUnavailableError:  # nothing read since a start during an outage: no zones
        stale = True
    else:
        if snapshot is not None:
            stale = snapshot.stale
            for zone in snapshot.data.get("zones", []):
                zones[str(zone["id"])] = (int(zone["capacity"]), int(zone["occupied"]))
    journal, audit = await asyncio.to_thread(
        lambda: (services.runtime.journal_backlog(), services.audit_backlog())
    )
    city = services.city.status if services.city is not None else None
    disk = services.disk.status() if services.disk is not None else None
    return SiteState(
        database_up=database,
        gates={gate_id: str(b.state) for gate_id, b in services.barriers.items()},
        zones=zones, zones_stale=stale, journal_waiting=journal, audit_journal_waiting=audit,
        city_connected=city.connected if city is not None else None,
        city_queued=city.queued if city is not None else 0,
        city_dropped=city.dropped if city is not None else 0,
        bus_dropped=services.bus.dropped,
        # Watched cameras only: an up of 1 for a camera nobody watches would be a guess.
        cameras={} if services.cameras is None else {
            gate_id: (bool(camera.up), camera.frames_read)
            for gate_id, camera in services.cameras.health().items() if camera.up is not None
        },
        disk_free_bytes=services.disk.free_bytes() if services.disk is not None else None,
        disk_low=disk is not None and (disk.low or disk.full),
        clock_behind_s=None if services.clock is None else services.clock.behind_s(),
        space_readings=_space_readings(services),
        loop=services.loop_watch.health() if services.loop_watch.running else None,
        loop_tasks=len(asyncio.all_tasks()),
    )


def _space_readings(services: Services) -> dict[str, int]:
    if services.parking is None:
        return {}
    stats = services.parking.stats()
    return {"accepted": int(stats["accepted"]),
            **{str(why): int(n) for why, n in stats["rejected"].items()}}


def _scraper(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> None:
    expected = services.settings.api.metrics_token
    if token is not None and expected is not None and hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        return
    if token is None and "parkgate_session" not in request.cookies:
        raise AuthenticationError(
            "send the metrics token as a bearer token (api.metrics_token, "
            "PARKGATE_API__METRICS_TOKEN) or an admin's login"
        )
    # Not the metrics token: an admin's login token or console session, as any admin route.
    admin_from(request, services, token)


@router.get("/metrics", dependencies=[Depends(_scraper)],
            summary="Prometheus metrics (metrics token or admin)")
async def metrics(services: ServicesDep) -> Response:
    body = services.metrics.render(await site_state(services))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
