"""Alarm history (报警记录, guards and admins): past alarms and how they were handled, by
local days, gate, kind and state, newest first. Acknowledged alarms leave the booth screen;
this is where the next shift and the property office read them back."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.console.i18n import alarm_kinds, code, translate
from api.console.rendering import (
    current_lang,
    day_start,
    display_tz,
    gate_names,
    page_links,
    page_user,
    pedestrian_gates,
    render,
    services_of,
)
from api.params import Day
from api.routes.alarms import passages_with_snapshot
from models.events import Alarm
from services.alarm_search import AlarmQuery, search_alarms

router = APIRouter(prefix="/console/alarms", include_in_schema=False)

PAGE_ROWS = 50
MAX_PAGE = 2000


@router.get("", response_class=HTMLResponse)
def alarm_history_page(
    request: Request,
    gate: str | None = Query(None, max_length=32),
    kind: str | None = Query(None, max_length=32),
    state: Literal["open", "acknowledged", ""] | None = None,
    since: Day = None,
    until: Day = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    user = page_user(request)
    if isinstance(user, Response):
        return user
    lang = current_lang(request)
    services = services_of(request)
    names = gate_names(services)
    kinds = alarm_kinds()
    filters = {
        "gate": gate or "",
        "kind": kind or "",
        "state": state or "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    # A stale or hand-edited link: its empty list would read as "there was no such alarm".
    notice = None
    if gate and gate not in names:
        notice = translate(lang, "history.unknown_gate", gate=gate)
    elif kind and kind not in kinds:
        notice = translate(lang, "alarm_history.unknown_kind", kind=kind)
    elif since and until and since > until:
        notice = translate(lang, "alarm_history.days_reversed")
    rows: list[Alarm] = []
    snapshots: dict[int, bool] = {}
    total = 0
    if notice is None:
        tz = display_tz(request)  # a picked date means the community's day
        query = AlarmQuery(
            state=state or "all",
            gate_id=gate or None,
            kind=kind or None,
            since=day_start(since, tz),
            until=day_start(until, tz, 1),
        )
        with services.sessions() as session:
            found = search_alarms(session, query, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS)
            rows, total = list(found.rows), found.total
            snapshots = passages_with_snapshot(session, services.snapshots, rows)
    params = {k: v for k, v in filters.items() if v}
    kind_labels = {k: code(lang, k) for k in kinds}
    if pedestrian_gates(services):
        # One kind, two words: a follower at a pedestrian gate is 尾随 on the booth screen.
        kind_labels["tailgating"] += " / " + translate(lang, "code.tailgating.pedestrian")
    return render(
        request,
        "alarm_history.html",
        {
            "rows": rows,
            "total": total,
            "notice": notice,
            "filters": filters,
            **page_links("/console/alarms", params, page, total, PAGE_ROWS),
            "gates": list(names.items()),
            "gate_names": names,
            "kinds": list(kind_labels.items()),
            "snapshots": snapshots,
        },
        user,
        status_code=422 if notice else 200,
    )
