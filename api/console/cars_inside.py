"""场内车辆 (guards and admins): the cars recorded inside now, per zone beside its count, with
「标记已离场」 for a car that left without its exit being read (services/cars_inside.py).

The mark-left form is a plain form post (no script needed on a tablet in the car park): a
preset reason and/or free text, at least 2 characters, joined as the booth's gate dialog joins
them. Done, the page is loaded again (303) and says so; a car that left or came in again
meanwhile is a 409 page saying nothing was changed.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from annotated_types import Ge, Le
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import AllowInfNan, BeforeValidator, ValidationError

from api.console.i18n import Lang, translate
from api.console.rendering import current_lang, page_links, page_user, render, services_of
from api.console.security import verify_csrf
from api.deps import Principal
from api.routes.presence import (
    MAX_INSIDE_FOR_H,
    MarkLeftIn,
    after_mark_left,
    inside_query,
    plate_in_path,
)
from errors import InvalidInputError, PlateFilterError
from models.base import utcnow
from models.site import configured_zones
from services.cars_inside import (
    CarKind,
    MarkedLeft,
    PresenceChangedError,
    list_inside,
    mark_left,
    recorded_per_zone,
)
from services.container import Services

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/presence", include_in_schema=False)

PAGE_ROWS = 50
MAX_PAGE = 2000
# Why a car is taken out by hand; the guard may add words or type their own.
LEFT_REASONS = ("left.p1", "left.p2", "left.p3", "left.p4")
# Join of a preset and the guard's own words, as live.js readReason joins them.
REASON_JOIN = "："


def _blank_is_none(value: object) -> object:
    """The filter form sends every field, a select left at 「全部类别」 and an empty hours box
    as ``kind=&inside_for_h=``: that means "no filter", not a 422 page."""
    return None if isinstance(value, str) and not value.strip() else value


def inside_for_text(lang: Lang, span: timedelta) -> str:
    """「1 天 6 小时」, 「5 小时 12 分」, 「8 分」: as long as a guard needs to read it."""
    minutes = int(span.total_seconds()) // 60
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return translate(lang, "inside.days", d=days, h=hours)
    if hours:
        return translate(lang, "inside.hours", h=hours, m=mins)
    return translate(lang, "inside.minutes", m=mins)


def _filters(zone: str | None, plate: str | None, kind: CarKind | None,
             inside_for_h: float | None) -> dict[str, str]:
    return {"zone": zone or "", "plate": plate or "", "kind": kind.value if kind else "",
            "inside_for_h": f"{inside_for_h:g}" if inside_for_h else ""}


def _read(services: Services, filters: dict[str, str], page: int, lang: Lang,
          now: datetime) -> dict[str, Any]:
    with services.sessions() as session:
        configured = configured_zones(session)
        zones = {z.id: z.name or z.id for z in configured}
        recorded = recorded_per_zone(session)
        counts = [{"id": z.id, "name": zones[z.id], "occupied": z.occupied,
                   "capacity": z.capacity, "recorded": recorded.get(z.id, 0)}
                  for z in configured]
        notice = None
        rows: list[dict[str, Any]] = []
        total = 0
        try:
            query = inside_query(
                zones, zone=filters["zone"] or None, plate=filters["plate"] or None,
                kind=CarKind(filters["kind"]) if filters["kind"] else None,
                inside_for_h=float(filters["inside_for_h"] or 0), now=now)
        except PlateFilterError:
            # Searched for nothing, it listed every car as that plate's.
            notice = translate(lang, "search.no_plate_characters")
        except InvalidInputError:
            # A stale link: its 0 rows would read as "no car of that zone is inside".
            notice = translate(lang, "inside.unknown_zone", zone=filters["zone"])
        else:
            found = list_inside(session, query, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS)
            total = found.total
            rows = [{"car": car, "zone_name": zones.get(car.zone_id or "", car.zone_id),
                     "inside_for": inside_for_text(lang, car.inside_for(now))}
                    for car in found.rows]
    return {"zones": list(zones.items()), "counts": counts, "rows": rows, "total": total,
            "notice": notice, "unzoned": recorded.get(None, 0)}


def _page(request: Request, user: Principal, filters: dict[str, str], page: int,
          *, status_code: int = 200, **context: Any) -> Response:
    lang = current_lang(request)
    read = _read(services_of(request), filters, page, lang, utcnow())
    params = {k: v for k, v in filters.items() if v}
    # The mark-left form comes back here, to the same page of the list (past 50 cars, not to
    # page 1 with 下一页 to find again).
    here = {**params, "page": str(page)} if page > 1 else params
    return render(
        request, "cars_inside.html",
        {**read, "filters": filters, "kinds": [k.value for k in CarKind],
         "presets": LEFT_REASONS, "here": "/console/presence?" + urlencode(here),
         "left": None, "left_key": "inside.done", "problem": None, "open_plate": None,
         **page_links("/console/presence", params, page, read["total"], PAGE_ROWS),
         **context},
        user, status_code=422 if read["notice"] else status_code,
    )


@router.get("", response_class=HTMLResponse)
def cars_inside_page(
    request: Request,
    zone: str | None = Query(None, max_length=32),
    plate: str | None = Query(None, max_length=16),
    kind: Annotated[CarKind | None, BeforeValidator(_blank_is_none)] = None,
    inside_for_h: Annotated[
        Annotated[float, Ge(0), Le(MAX_INSIDE_FOR_H), AllowInfNan(False)] | None,
        BeforeValidator(_blank_is_none)] = None,
    left: str | None = Query(None, max_length=32),
    left_count: str | None = Query(None, max_length=8),
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    user = page_user(request)
    if isinstance(user, Response):
        return user
    return _page(request, user, _filters(zone, plate, kind, inside_for_h), page, left=left,
                 left_key=_done_key(left_count))


# What 标记已离场 did to the count, as the redirect carries it to the notice: came down one,
# stayed at 0 (clamped), or no zone counted the car.
COUNT_OUTCOMES = ("down", "zero", "none")


def _count_outcome(done: MarkedLeft) -> str:
    if done.moves_zone:
        return "down"
    return "zero" if done.counted_in_zone else "none"


def _done_key(outcome: str | None) -> str:
    """The notice's text. The outcome comes back in the address, so it only picks one of
    these texts (anything else: the plain "marked as left", naming no count)."""
    return f"inside.done.{outcome}" if outcome in COUNT_OUTCOMES else "inside.done"


def _back_to(here: str) -> str:
    """Only this page: the form's return address must not send the guard elsewhere."""
    return here if here.startswith("/console/presence?") or here == "/console/presence" \
        else "/console/presence"


def _filters_of(here: str) -> tuple[dict[str, str], int]:
    """The filters and page of the list the guard marked from (the form's ``here``), to show
    that list again under a refusal; a value the page would not have written is dropped, not
    a 500."""
    query = parse_qs(urlsplit(_back_to(here)).query)

    def first(name: str) -> str:
        return (query.get(name) or [""])[0].strip()

    kinds = {k.value: k for k in CarKind}
    try:
        hours: float | None = float(first("inside_for_h"))
    except ValueError:
        hours = None
    if hours is not None and not (math.isfinite(hours) and 0 <= hours <= MAX_INSIDE_FOR_H):
        hours = None
    page = first("page")
    number = int(page) if page.isascii() and page.isdigit() and len(page) <= 4 else 1
    return (_filters(first("zone")[:32] or None, first("plate")[:16] or None,
                     kinds.get(first("kind")), hours),
            number if 1 <= number <= MAX_PAGE else 1)


@router.get("/left")
def mark_left_address() -> Response:
    """A refused form is answered at /console/presence/left: the language switch and the
    idle logout come back to the page's address by GET (so do a bookmark or the address bar),
    and found a JSON 405 there instead of the list."""
    return RedirectResponse("/console/presence", status_code=303)


@router.post("/left", response_class=HTMLResponse)
async def mark_left_form(
    request: Request,
    plate: Annotated[str, Form(max_length=32)],
    passage_id: Annotated[str, Form(max_length=12)] = "",
    preset: Annotated[str, Form(max_length=100)] = "",
    reason_text: Annotated[str, Form(max_length=400)] = "",
    here: Annotated[str, Form(max_length=400)] = "/console/presence",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    user = page_user(request)
    if isinstance(user, Response):
        return user
    await verify_csrf(request, user.name, csrf_token)
    lang = current_lang(request)
    # A refusal shows the guard's own list again (a reason too short: with the car's panel
    # open), not the whole unfiltered one with the car searched for among 50 others.
    shown, shown_page = _filters_of(here)
    reason = REASON_JOIN.join(part for part in (preset.strip(), reason_text.strip()) if part)
    entry = passage_id.strip()
    try:
        stored = plate_in_path(plate)
    except InvalidInputError:
        stored = ""
    if not stored or (entry and not (entry.isascii() and entry.isdigit())):
        # The page writes a listed plate and a number or nothing: this form was not the
        # page's.
        return _page(request, user, shown, shown_page, status_code=422,
                     problem=translate(lang, "inside.changed", plate=plate))
    try:
        body = MarkLeftIn(reason=reason, passage_id=int(entry) if entry else None)
    except ValidationError as err:
        fields = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
        key = "inside.reason_needed" if "reason" in fields else "inside.changed"
        return _page(request, user, shown, shown_page, status_code=422,
                     problem=translate(lang, key, plate=plate),
                     open_plate=stored if "reason" in fields else None)
    services = services_of(request)
    try:
        done = await asyncio.to_thread(mark_left, services.store, stored, operator=user.name,
                                       reason=body.reason, passage_id=body.passage_id)
    except PresenceChangedError:
        return _page(request, user, shown, shown_page, status_code=409,
                     problem=translate(lang, "inside.changed", plate=stored))
    await asyncio.to_thread(after_mark_left, services, done, user.name, body.reason)
    target = _back_to(here)
    sep = "&" if "?" in target else "?"
    shown_done = {"left": done.plate, "left_count": _count_outcome(done)}
    return RedirectResponse(f"{target}{sep}{urlencode(shown_done)}", status_code=303)
