"""场内车辆 for staff: ``GET /api/v1/presence`` lists the cars recorded inside,
``POST /api/v1/presence/{plate}/left`` takes one out that left unseen (services/cars_inside.py).
Guards and admins, as the passages API."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ServicesDep, SessionDep, StaffUser
from api.params import BodyId, Offset
from api.schemas import Reason, plate_filter
from controllers.events import Event
from errors import InvalidInputError
from models.base import utcnow
from services.cars_inside import (
    CarInside,
    CarKind,
    InsideQuery,
    MarkedLeft,
    list_inside,
    mark_left,
    zone_names,
)
from services.container import Services
from vision.plate_grammar import normalize_typed_plate

router = APIRouter(prefix="/api/v1/presence", tags=["presence"])

# A year and a month: a car parked longer than that is still found by any smaller figure.
MAX_INSIDE_FOR_H = 24 * 400


class CarInsideOut(BaseModel):
    plate: str
    zone_id: str | None
    zone_name: str | None
    kind: CarKind
    household_id: int | None = Field(description="The car's flat, or a visitor pass's host.")
    household: str | None = Field(None, examples=["3栋 1201"])
    pass_id: int | None
    entered_at: datetime
    passage_id: int | None = Field(description="The entry passage that recorded it inside.")
    inside_for_s: int


class CarsInsidePage(BaseModel):
    items: list[CarInsideOut]
    total: int
    limit: int
    offset: int


def car_out(car: CarInside, zones: dict[str, str], now: datetime) -> CarInsideOut:
    return CarInsideOut(
        plate=car.plate, zone_id=car.zone_id,
        zone_name=zones.get(car.zone_id) if car.zone_id is not None else None,
        kind=car.kind, household_id=car.household_id, household=car.household,
        pass_id=car.pass_id, entered_at=car.entered_at, passage_id=car.passage_id,
        inside_for_s=int(car.inside_for(now).total_seconds()),
    )


def inside_query(
    zones: dict[str, str], *, zone: str | None, plate: str | None, kind: CarKind | None,
    inside_for_h: float | None, now: datetime,
) -> InsideQuery:
    """The filters as typed (API and console alike); an unknown zone is a 422, not an empty
    list that reads as "no car of that zone is inside"."""
    if zone and zone not in zones:
        raise InvalidInputError(
            f"no zone named {zone!r}; the zones are {', '.join(zones) or 'none'}")
    return InsideQuery(
        zone_id=zone or None, plate=plate_filter(plate), kind=kind,
        entered_before=now - timedelta(hours=inside_for_h) if inside_for_h else None,
    )


@router.get("", response_model=CarsInsidePage, summary="Cars recorded inside, longest first")
def list_cars_inside(
    session: SessionDep,
    _: StaffUser,
    zone: str | None = Query(None, max_length=32, description="A zone id."),
    plate: str | None = Query(
        None, max_length=16,
        description="Part of a plate (full-width and lower case fold), as passage search."),
    kind: CarKind | None = Query(
        None, description="resident: a household's own car; visitor: by a visitor pass; "
        "other: neither (let in by a guard, allow-listed, its flat or pass deleted since)."),
    inside_for_h: float | None = Query(
        None, ge=0, le=MAX_INSIDE_FOR_H, allow_inf_nan=False,
        description="Only cars inside at least this many hours."),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> CarsInsidePage:
    now = utcnow()
    zones = zone_names(session)
    query = inside_query(zones, zone=zone, plate=plate, kind=kind, inside_for_h=inside_for_h,
                         now=now)
    found = list_inside(session, query, limit=limit, offset=offset)
    return CarsInsidePage(items=[car_out(c, zones, now) for c in found.rows],
                          total=found.total, limit=limit, offset=offset)


class MarkLeftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason = Field(max_length=500, examples=["尾随前车出场，出口未识别"])
    passage_id: BodyId | None = Field(
        None, description="The entry passage listed for the car: if it has left or come in "
        "again since, nothing is changed (409).")


class MarkedLeftOut(BaseModel):
    plate: str
    zone_id: str | None
    zone_moved: int = Field(description="-1: its zone's count came down one; 0: no zone "
                            "counted it, or the count was at 0 already.")
    passage_id: int | None
    audit_id: int


def plate_in_path(plate: str) -> str:
    """The plate as stored (canonical) when it is one; otherwise as sent, which finds
    nothing and is answered as a car not inside. Blank or with control characters it is no
    plate at all: a 422 saying so, not a 409 telling of a car " " that left meanwhile."""
    canonical = normalize_typed_plate(plate)
    if canonical:
        return canonical
    text = plate.strip()
    if not text or not text.isprintable():
        raise InvalidInputError(
            f"{text!r} is not a plate: give the plate as listed, e.g. 闽A12345; nothing was "
            "changed")
    return text


def after_mark_left(services: Services, done: MarkedLeft, username: str, reason: str) -> None:
    """Once committed: the gates' offline snapshot is retaken at once (it must not let the
    car in as inside, or keep it on the household's spaces), the booth pages hear of the
    audit entry and any alarm, and the boards and city feed get the zone's new count."""
    services.access_changed()
    for alarm in done.alarms:
        services.bus.publish(Event("alarm", alarm))
    services.bus.publish(Event("audit", {
        "username": username, "action": "presence.left", "gate_id": None,
        "passage_id": done.passage_id, "reason": reason,
        "details": {"plate": done.plate, "zone": done.zone_id},
    }))
    if done.moves_zone:
        services.runtime.zone_counts.publish_now()


@router.post(
    "/{plate}/left",
    response_model=MarkedLeftOut,
    summary="标记已离场: take a car that left unseen off the cars inside, as an exit; audited",
    responses={409: {"description": "Not recorded inside (under that entry): nothing changed"},
               422: {"description": "No reason, or a bad passage id"}},
)
async def mark_car_left(
    services: ServicesDep, user: StaffUser, body: MarkLeftIn,
    plate: str = Path(max_length=32),
) -> MarkedLeftOut:
    """标记已离场: the car left without its exit being read. Its presence goes and the zone
    that counted it comes down one, as an exit; audited as presence.left with the reason."""
    done = await asyncio.to_thread(
        mark_left, services.store, plate_in_path(plate), operator=user.name,
        reason=body.reason, passage_id=body.passage_id)
    await asyncio.to_thread(after_mark_left, services, done, user.name, body.reason)
    return MarkedLeftOut(plate=done.plate, zone_id=done.zone_id, zone_moved=done.zone_moved,
                         passage_id=done.passage_id, audit_id=done.audit_id)

