"""Parking spaces and guidance: public, read-only, cacheable; holds need staff.

Public endpoints answer with an ETag (``If-None-Match`` → 304): the availability from
precomputed bodies, guidance by building from its answer built per request. They are
limited per client IP by a token bucket (429 with ``Retry-After``). Behind a reverse
proxy every client shares the proxy's address: raise the limit there, or limit in the proxy.
"""

from __future__ import annotations

import asyncio
import json
import logging
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from starlette.types import Receive, Scope, Send

from api.deps import (
    Principal,
    ServicesDep,
    SessionDep,
    StaffUser,
    get_current_user,
    oauth2_scheme,
    require_staff,
)
from api.params import MAX_DB_INT, BodyId
from api.routes.admin import audit
from api.schemas import Availability, Label
from controllers.guidance import Hold, Recommendation
from controllers.spaces import SpaceKind, building_key
from errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StoreUnavailableError,
)
from services.availability_cache import (
    CachedBody,
    ZoneSnapshot,
    etag_matches,
    make_etag,
    retry_after_header,
)
from services.container import Services
from services.parking import ParkingService
from vision.plate_grammar import fold_typed_plate, normalize_typed_plate

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["parking"])

CACHE_CONTROL = "public, max-age=2"
# Retry-After of a 503 while the database is down and no availability was read since start.
UNAVAILABLE_RETRY_S = 5

# Room for a plate typed with separators ("闽A·12345", "闽A 12345"); a canonical one is ≤ 8.
HOLDER_MAX_CHARS = 32


# ---- shared by the public endpoints (also used by routes/availability.py) ----------------


def _parking(services: Services) -> ParkingService:
    if services.parking is None:
        raise HTTPException(503, "parking is not configured")
    return services.parking


async def rate_limit(request: Request) -> None:
    """Token bucket per client IP. Async so the hot path never hops to a worker thread."""
    parking = request.app.state.services.parking
    if parking is None or parking.limiter is None:
        return
    key = request.client.host if request.client else "unknown"
    wait = parking.limiter.take(key)
    if wait > 0:
        raise HTTPException(
            429,
            f"too many requests from {key}: slow down to "
            f"{parking.limiter.rate:g}/s (burst {parking.limiter.burst:g})",
            headers={"Retry-After": retry_after_header(wait)},
        )


RateLimited = Depends(rate_limit)


def render_availability(data: dict[str, object]) -> bytes:
    # The public schema renders it, so the cached body is byte-for-byte what it always was.
    return Availability.model_validate(data).model_dump_json().encode()


async def zone_snapshot(services: Services) -> ZoneSnapshot:
    """The zones' counts for a request; 503 with Retry-After when the database is down and
    nothing was read since start (stale counts are served marked ``stale``)."""
    try:
        return await _parking(services).zones_cache.current()
    except StoreUnavailableError as err:
        raise HTTPException(
            503, str(err), headers={"Retry-After": str(UNAVAILABLE_RETRY_S)}
        ) from err


async def zone_body(services: Services) -> CachedBody:
    return _parking(services).zones_cache.body(
        render_availability, await zone_snapshot(services)
    )


def stale_age_s(snap: ZoneSnapshot) -> int | None:
    """Seconds since stale counts were read (the ``Age`` header); None when fresh."""
    if not snap.stale:
        return None
    return max(0, int((datetime.now(UTC) - snap.read_at).total_seconds()))


def cached_response(request: Request, entry: CachedBody, age: int | None = None) -> Response:
    headers = {"ETag": entry.etag, "Cache-Control": CACHE_CONTROL}
    if age is not None:
        headers["Age"] = str(age)
    if etag_matches(request.headers.get("if-none-match"), entry.etag):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


# ---- schemas ------------------------------------------------------------------------------


class SpaceOut(BaseModel):
    id: str
    label: str | None = Field(description="Painted on the ground; null when it has none.")
    zone: str
    kind: SpaceKind
    state: Literal["free", "occupied", "unknown"]
    source: Literal["sensor", "camera", "none"]
    since: datetime | None = Field(description="Time of the reading the state comes from.")
    conflict: bool = Field(description="A fresh sensor and camera disagree (sensor wins).")
    held: bool = Field(description="Held for a driver who was just sent there.")


class ZoneSpacesOut(BaseModel):
    spaces: int
    free: int
    occupied: int
    unknown: int


class SpacesOut(BaseModel):
    spaces: list[SpaceOut]
    zones: dict[str, ZoneSpacesOut]


class GuidedSpace(BaseModel):
    id: str
    label: str | None = Field(description="Painted on the ground; null when it has none.")
    zone: str
    kind: SpaceKind
    distance_m: float | None = Field(description="Walking distance to the building, if known.")


class FallbackZone(BaseModel):
    zone: str
    name: str
    free: int


class HoldOut(BaseModel):
    space_id: str
    holder: str
    until: datetime


class GuidanceOut(BaseModel):
    building: str | None = Field(
        description="As asked, or the resident's household's; null for a staff hold of a "
        "named space given neither."
    )
    space: GuidedSpace | None = Field(description="Where to park; null when nothing fits.")
    reasons: list[str] = Field(description="Stable reason codes (controllers/guidance.py).")
    alternatives: list[GuidedSpace]
    fallback_zone: FallbackZone | None = Field(
        description="When no space fits: the zone with most free spaces by gate counting."
    )
    hold: HoldOut | None = None


def holder_plate(value: str) -> str:
    """The canonical plate a hold is kept under; ``ValueError`` saying what is wrong.

    Holds are keyed by plate: the gates hold and release them under the passage's canonical
    plate, so a staff hold must use the same spelling or the car's exit would not release it
    and ``闽a12345`` / ``闽A·12345`` would hold a second space for one car. Folded by the
    rule every entry point uses (a newline or zero-width space pasted with it is dropped);
    only the canonical plate is stored and audited.
    """
    plate = normalize_typed_plate(value)
    if plate is not None:
        return plate
    folded = fold_typed_plate(value)
    if not folded:
        raise ValueError("holder must not be blank: give the car's plate, e.g. 闽A12345")
    bad = next((c for c in folded if unicodedata.category(c).startswith("C")), None)
    if bad is not None:
        raise ValueError(f"holder must not contain control characters (found U+{ord(bad):04X})")
    raise ValueError(f"holder {value!r} is not a valid Chinese plate (GA 36-2018), e.g. 闽A12345")


class HoldIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    holder: str = Field(
        min_length=1,
        max_length=HOLDER_MAX_CHARS,
        description="The car's plate (GA 36-2018); stored canonical, e.g. 闽A·12345 → 闽A12345. "
        "One hold per plate: a new hold replaces the old one.",
    )
    space_id: str | None = Field(None, min_length=1, max_length=64, description="Hold this one.")
    building: Label | None = Field(
        None, min_length=1, max_length=64,
        description="Building the driver goes to (must be one the spaces know); folded as a "
        "household's building is (３ → 3, spaces trimmed).",
    )
    resident_id: BodyId | None = Field(
        None, description="The building is this resident's household's."
    )
    kind: Literal["ev", "accessible", "visitor"] | None = Field(
        None, description="Kind of space needed; only when the best space is chosen."
    )

    @field_validator("holder")
    @classmethod
    def _holder(cls, value: str) -> str:
        return holder_plate(value)

    @model_validator(mode="after")
    def _kind_chooses(self) -> HoldIn:
        # With space_id nothing is chosen, so a kind would be silently ignored.
        if self.space_id is not None and self.kind is not None:
            raise ValueError("kind chooses a space; it cannot be combined with space_id")
        return self


# ---- public availability ------------------------------------------------------------------


@router.get(
    "/availability/spaces",
    response_model=SpacesOut,
    summary="State of every parking space (public, ETag)",
    dependencies=[RateLimited],
    responses={304: {"description": "Unchanged since the ETag in If-None-Match."}},
)
async def get_spaces(request: Request) -> Response:
    parking = _parking(request.app.state.services)
    return cached_response(request, parking.spaces_snapshot())


# ":path": a space id is whatever the configuration names it, "B1/017" included; the server
# decodes a %2F before routing, so a plain {space_id} answered 404 for it (as for zones).
@router.get(
    "/availability/spaces/{space_id:path}",
    response_model=SpaceOut,
    summary="State of one parking space (public, ETag)",
    dependencies=[RateLimited],
    responses={304: {"description": "Unchanged."}, 404: {"description": "No such space."}},
)
async def get_space(space_id: str, request: Request) -> Response:
    parking = _parking(request.app.state.services)
    # The list's own row, so one space reads exactly as in the list and the stream (its
    # ``since`` was "…Z" here and "…+00:00" there). NotFoundError → 404, assigned ones too.
    row = parking.space_row(space_id)
    body = json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode()
    return cached_response(request, CachedBody(body, make_etag(body), row))


async def availability_events(
    request: Request, services: Services, heartbeat_s: float
) -> AsyncIterator[str]:
    parking = _parking(services)
    async with parking.changes.subscribe() as queue:
        yield "retry: 3000\n\n"
        sent_zones = sent_spaces = ""
        idle = False
        while True:
            sent = False
            try:
                zones: CachedBody | None = await zone_body(services)
            except HTTPException:  # database down, nothing read yet: spaces only
                zones = None
            if zones is not None and zones.etag != sent_zones:
                sent_zones = zones.etag
                sent = True
                yield f"event: availability\nid: {zones.etag}\ndata: {zones.body.decode()}\n\n"
            spaces = parking.spaces_snapshot()
            if spaces.etag != sent_spaces:
                sent_spaces = spaces.etag
                sent = True
                yield f"event: spaces\nid: {spaces.etag}\ndata: {spaces.body.decode()}\n\n"
            if idle and not sent:
                yield ": ping\n\n"  # keeps proxies from closing an idle stream
            try:
                # Not asyncio.wait_for: on Python 3.11 it returns a change that comes as
                # this stream is cancelled and drops the cancel, so the stream went on and
                # kept a shutdown waiting. asyncio.timeout raises it at the next await.
                async with asyncio.timeout(heartbeat_s):
                    await queue.get()
                if queue.ended:
                    return  # the controller is stopping; the app reconnects
                idle = False
            except TimeoutError:
                if await request.is_disconnected():
                    return
                idle = True  # also re-checks spaces whose readings aged out


@router.get(
    "/availability/stream",
    summary="Availability and space changes as Server-Sent Events (public)",
    dependencies=[RateLimited],
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(request: Request) -> StreamingResponse:
    services: Services = request.app.state.services
    parking = _parking(services)
    if parking.streams >= parking.config.max_streams:
        raise HTTPException(503, "too many availability streams; poll /api/v1/availability")
    parking.streams += 1
    return _CountedStream(
        parking,
        availability_events(request, services, parking.config.stream_heartbeat_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _CountedStream(StreamingResponse):
    """A stream holding one of ``max_streams`` from its request until it ends, however it ends.

    Taken when the route answers, not when the body first runs: requests arriving together
    (apps reconnecting after a restart) all passed the check before any body had started.
    Given back here rather than in the body, which never runs for a client gone before it.
    """

    def __init__(self, parking: ParkingService, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parking = parking

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._parking.streams -= 1


# ---- guidance -----------------------------------------------------------------------------


def _guided(parking: ParkingService, space_id: str, building: str | None) -> GuidedSpace:
    rec = parking.board.spaces[space_id]
    return GuidedSpace(
        id=rec.id, label=rec.label or None, zone=rec.zone, kind=rec.kind,
        distance_m=rec.distances_m.get(building_key(building)) if building else None,
    )


def _check_building(parking: ParkingService, building: str) -> None:
    """422 for a building no space has a distance to (none known: any building is allowed);
    "3栋", "3号楼" and "３" are building "3" (``building_key``)."""
    known = parking.known_buildings()
    if known and building_key(building) not in known:
        raise InvalidInputError(
            f"unknown building {building!r}; spaces know buildings {', '.join(sorted(known))}"
        )


def _resolve_driver(
    parking: ParkingService, building: str | None, resident_id: int | None
) -> tuple[str, str | None]:
    """(building, assigned space) from the query; 404 for an unknown resident."""
    if building is not None:  # also next to resident_id: it overrides the household's
        _check_building(parking, building)
    assigned = None
    if resident_id is not None:
        home, household_id = parking.resident_building(resident_id)
        building = building or home
        assigned = parking.assigned_space(resident_id, household_id)
    if building is None:
        raise InvalidInputError("give building or resident_id")
    return building, assigned


def _fallback(parking: ParkingService) -> FallbackZone | None:
    zone = parking.fallback_zone()
    return FallbackZone.model_validate(zone) if zone is not None else None


def _guidance_out(
    parking: ParkingService, building: str, rec: Recommendation | None, hold: Hold | None
) -> GuidanceOut:
    return GuidanceOut(
        building=building,
        space=_guided(parking, rec.space_id, building) if rec else None,
        reasons=[str(r) for r in rec.reasons] if rec else [],
        alternatives=[_guided(parking, s, building) for s in rec.alternatives] if rec else [],
        fallback_zone=None if rec else _fallback(parking),
        hold=HoldOut(space_id=hold.space_id, holder=hold.holder, until=hold.until)
        if hold
        else None,
    )


def _needs(kind: str | None) -> tuple[SpaceKind, ...]:
    return (SpaceKind(kind),) if kind else ()


def optional_user(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal | None:
    """The logged-in caller, or None: guidance is public, its resident lookup is not."""
    try:
        return get_current_user(request, services, token)
    except AuthenticationError:
        return None


@router.get(
    "/guidance",
    response_model=GuidanceOut,
    summary="Best free space near a building (public, ETag; resident_id needs staff)",
    dependencies=[RateLimited],
    responses={304: {"description": "Unchanged since the ETag in If-None-Match."}},
)
def get_guidance(
    request: Request,
    services: ServicesDep,
    user: Annotated[Principal | None, Depends(optional_user)],
    # Folded as a household's building is stored (Label): the answer echoes it, and an app
    # showing "Building ３" or "3\n" back to the driver showed what the keyboard typed.
    building: Annotated[Label | None, Query(min_length=1, max_length=64)] = None,
    kind: Annotated[Literal["ev", "accessible", "visitor"] | None, Query()] = None,
    resident_id: Annotated[int | None, Query(ge=1, le=MAX_DB_INT)] = None,
) -> Response:
    """Read-only: nothing is held. A resident's own space comes first when it is known.

    ``resident_id`` needs a guard or admin login: the answer reveals the resident's building
    and own space, which anonymous callers could otherwise enumerate (PIPL).

    By building the answer is the same for every caller (an anonymous one is never offered a
    held space), so it is cached as the availability is: an ETag of its body, 304 for
    ``If-None-Match``. With ``resident_id`` it is one resident's and stays ``no-store``: a
    shared cache keeps a ``public`` answer even to a request with a login.
    """
    if resident_id is not None:
        if user is None:
            raise AuthenticationError("resident_id needs a staff login; drivers ask by building")
        require_staff(user)
    parking = _parking(services)
    building, assigned = _resolve_driver(parking, building, resident_id)
    rec, _ = parking.recommend(building=building, needs=_needs(kind), assigned_space=assigned)
    out = _guidance_out(parking, building, rec, None)
    body = out.model_dump_json().encode()
    if resident_id is not None:
        return Response(body, media_type="application/json",
                        headers={"Cache-Control": "no-store"})
    # Built per request (it depends on the building and kind asked), unlike the availability
    # bodies: the ETag spares a polling app the body, not the server the ranking.
    return cached_response(request, CachedBody(body, make_etag(body), out.model_dump()))


@router.post(
    "/guidance/hold",
    response_model=GuidanceOut,
    status_code=201,
    summary="Hold a space for a driver granted entry (staff)",
)
def post_hold(
    body: HoldIn, services: ServicesDep, session: SessionDep, user: StaffUser
) -> GuidanceOut:
    parking = _parking(services)
    if body.space_id is not None:
        building: str | None = None
        if body.building is not None or body.resident_id is not None:
            # Only for the answer's distance, but checked before holding: a bogus building
            # must be refused, not held and echoed back (404 for an unknown resident).
            building, _ = _resolve_driver(parking, body.building, body.resident_id)
        hold = parking.hold_space(body.space_id, body.holder)  # 404 / 409
        out = GuidanceOut(
            building=building, space=_guided(parking, hold.space_id, building), reasons=[],
            alternatives=[], fallback_zone=None,
            hold=HoldOut(space_id=hold.space_id, holder=hold.holder, until=hold.until),
        )
    else:
        building, assigned = _resolve_driver(parking, body.building, body.resident_id)
        rec, offered = parking.recommend(
            building=building, needs=_needs(body.kind), assigned_space=assigned,
            holder=body.holder, hold=True,
        )
        if rec is None or offered is None:
            raise ConflictError("no free space to hold; send the driver to the fallback zone")
        hold = offered
        out = _guidance_out(parking, building, rec, hold)
    audit(session, user, "guidance.hold", f"space:{hold.space_id}", holder=body.holder,
          until=hold.until.isoformat())
    return out


@router.delete(
    "/guidance/hold/{holder}", status_code=204, summary="Release a driver's hold (staff)"
)
def delete_hold(
    holder: Annotated[str, Path(min_length=1, max_length=HOLDER_MAX_CHARS)],
    services: ServicesDep,
    session: SessionDep,
    user: StaffUser,
) -> None:
    try:
        plate = holder_plate(holder)  # the spelling the hold was stored under
    except ValueError as err:
        raise InvalidInputError(str(err)) from err
    released = _parking(services).release(plate)
    if released is None:
        raise NotFoundError(f"no hold for {plate!r}")
    audit(session, user, "guidance.release", f"space:{released.space_id}", holder=plate)
