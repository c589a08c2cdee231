"""Passage history (通行记录, guards and admins): search past passages by plate, gate, result
and Beijing days, with their snapshots, as the live page shows them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from api.console.i18n import Lang, translate
from api.console.rendering import (
    current_lang,
    display_tz,
    gate_names,
    local_time,
    page_links,
    page_user,
    render,
    services_of,
    time_window,
)
from api.console.routes import _with_resolutions
from api.params import Clock, Day, QueryId
from api.schemas import plate_filter
from errors import InvalidInputError, PlateFilterError
from models.access_store import passage_to_dict
from models.events import AuditEntry
from models.people import Household
from services.passage_search import PassageQuery, search_passages
from vision.plate_grammar import PlateKind
from wall_clock import utcnow

router = APIRouter(prefix="/console/history", include_in_schema=False)

# "The barrier did not open, I waited": a guard who then opened the gate by hand (开闸 on its
# card) is in the audit log at that gate, but not under the passage. An admin's row for a car
# not let through goes to the gate's audit entries this long either side of it.
AUDIT_AROUND = timedelta(minutes=10)

PAGE_ROWS = 50
MAX_PAGE = 2000
# The filter's choices: the trucks an office asks about first, then the other families.
TRUCKS = (PlateKind.TRAILER, PlateKind.DOUBLE_ROW)
PLATE_KIND_CHOICES = [*TRUCKS, *(kind for kind in PlateKind if kind not in TRUCKS)]


def audit_around_url(passage: dict[str, Any], tz: ZoneInfo) -> str:
    """The audit log at ``passage``'s gate, AUDIT_AROUND either side of it (whole minutes)."""
    at = datetime.fromisoformat(passage["at"]).astimezone(tz)
    start, end = at - AUDIT_AROUND, at + AUDIT_AROUND
    return "/console/admin/audit?" + urlencode({
        "gate": passage["gate_id"],
        "since": start.date().isoformat(), "since_time": start.strftime("%H:%M"),
        "until": end.date().isoformat(), "until_time": end.strftime("%H:%M"),
    })


def not_let_through(passage: dict[str, Any]) -> bool:
    """Refused, sent to a guard, or its barrier did not open: a car that may have waited."""
    return passage["decision"] != "allow" or "admission_undone" in passage["flags"]


# How long after a car not let through a hand opening of its gate is shown with it (one that
# names the car's passage is shown whatever the delay).
OPENED_AFTER = timedelta(minutes=10)


def add_gate_openings(session: Session, rows: list[dict[str, Any]], lang: Lang,
                      tz: ZoneInfo) -> None:
    """Under a car not let through (and not let in by a guard's resolution), the first hand
    opening that names its passage (人工开闸放行 from its row, or an API open with its
    passage_id), however late; else the first opening of its gate (开闸) in the OPENED_AFTER
    that follow: a guard asked "who let me in after 3 minutes?" has no audit log to read.
    Said as what the gate log holds ("then … opened the gate by hand"), as one naming no
    passage may have been for another car."""
    waiting = [row for row in rows if not_let_through(row)
               and row["resolution"] in (None, "denied") and row["id"] is not None]
    if not waiting:
        return
    times = [datetime.fromisoformat(row["at"]) for row in waiting]
    # Each car's own gate and 10 minutes, not everything between the page's first and last
    # car: a page of refused cars a week apart (a plate's history, 拒绝 over a month) read
    # every opening of those weeks, thousands on a busy gate, and matched each to each car.
    windows = [
        and_(AuditEntry.gate_id == row["gate_id"], AuditEntry.at >= at,
             AuditEntry.at < at + OPENED_AFTER)
        for row, at in zip(waiting, times, strict=True)
    ]
    # A guard may open for the car long after it (the barrier-fault alarm's 人工开闸放行 the
    # next morning): that opening is this car's, and it was not shown past 10 minutes.
    named = AuditEntry.passage_id.in_([row["id"] for row in waiting])
    openings = list(session.scalars(
        select(AuditEntry)
        .where(AuditEntry.action == "gate.open")
        .where(or_(named, *windows))
        .order_by(AuditEntry.at, AuditEntry.id)
    ))
    for row, at in zip(waiting, times, strict=True):
        opened = next((entry for entry in openings if entry.passage_id == row["id"]), None)
        if opened is None:
            opened = next((
                entry for entry in openings
                if entry.gate_id == row["gate_id"] and entry.passage_id is None
                and at <= entry.at < at + OPENED_AFTER
            ), None)
        if opened is not None:
            # Another day's opening says its date: 08:13:30 alone would read as the car's day.
            same_day = local_time(opened.at, tz, "%Y%m%d") == local_time(at, tz, "%Y%m%d")
            row["opened_after"] = translate(
                lang, "history.opened_after",
                at=local_time(opened.at, tz, "%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S"),
                by=opened.username, reason=opened.reason,
            )


@router.get("", response_class=HTMLResponse)
def history_page(
    request: Request,
    plate: str | None = Query(None, max_length=16),
    similar: bool = False,
    gate: str | None = Query(None, max_length=32),
    decision: Literal["allow", "deny", "review", ""] | None = None,
    plate_kind: PlateKind | Literal[""] | None = None,
    since: Day = None,
    until: Day = None,
    since_time: Clock = None,
    until_time: Clock = None,
    passage: QueryId = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    user = page_user(request)
    if isinstance(user, Response):
        return user
    lang = current_lang(request)
    services = services_of(request)
    try:
        folded = plate_filter(plate)
        unsearchable = False
    except PlateFilterError:
        folded, unsearchable = None, True
    tz = display_tz(request)  # a picked date means the community's day
    # The controller's day (wall_clock), as its records are stamped: not the system's.
    start, end = time_window(since, until, since_time, until_time, tz,
                             utcnow().astimezone(tz).date())
    query = PassageQuery(
        plate=folded,
        similar=similar and folded is not None,
        gate_id=gate or None,
        decision=decision or None,
        plate_kind=plate_kind or None,
        since=start,
        until=end,
        passage_id=passage,
    )
    filters = {
        "plate": plate or "",
        "similar": similar,
        "gate": gate or "",
        "decision": decision or "",
        "plate_kind": plate_kind or "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
        "since_time": since_time.strftime("%H:%M") if since_time else "",
        "until_time": until_time.strftime("%H:%M") if until_time else "",
        "passage": str(passage) if passage else "",  # one alarm's passage (报警记录's link)
    }
    notice = None
    rows: list[dict[str, Any]] = []
    total, capped = 0, False
    names = gate_names(services)
    if unsearchable:
        # Searched for nothing, it listed every passage as that plate's.
        notice = translate(lang, "search.no_plate_characters")
    elif query.gate_id is not None and query.gate_id not in names:
        # A stale or hand-edited link: its 0 rows under 全部出入口 read as "no car came there".
        notice = translate(lang, "history.unknown_gate", gate=query.gate_id)
    elif since and until and since > until:
        # Swapped dates listed 0 passages: read as "that car never came", as on 报警记录.
        notice = translate(lang, "alarm_history.days_reversed")
    elif start and end and start >= end:
        # 08:20 to 07:50 on one day listed 0 passages, read as "that car never came".
        notice = translate(lang, "history.times_reversed")
    with services.sessions() as session:
        if notice is None:
            try:
                found = search_passages(
                    session, query, limit=PAGE_ROWS, offset=(page - 1) * PAGE_ROWS
                )
            except InvalidInputError:
                notice = translate(lang, "history.whole_plate")
            else:
                rows = _with_resolutions(session, [passage_to_dict(p) for p in found.rows])
                total, capped = found.total, found.scan_capped
        # The office settles a complaint from the audit log: who resolved the car, opened for
        # it, corrected its plate. Admins get a link from each passage that has entries.
        audited: set[int] = set()
        if user.is_admin and rows:
            audited = set(session.scalars(
                select(AuditEntry.passage_id).distinct()
                .where(AuditEntry.passage_id.in_([row["id"] for row in rows]))
            ))
        add_gate_openings(session, rows, lang, tz)
        if user.is_admin:
            for row in rows:
                if not_let_through(row):
                    row["audit_around_url"] = audit_around_url(row, tz)
        households = session.scalars(select(Household))
        hh_labels = {h.id: f"{h.building} {h.unit}" for h in households}
    params = {k: ("1" if v is True else v) for k, v in filters.items() if v}
    return render(
        request,
        "history.html",
        {
            "rows": rows,
            "total": total,
            "capped": capped,
            "notice": notice,
            "filters": filters,
            **page_links("/console/history", params, page, total, PAGE_ROWS),
            "gates": list(names.items()),
            "plate_kinds": [kind.value for kind in PLATE_KIND_CHOICES],
            "gate_names": names,
            "hh_labels": hh_labels,
            "audited": audited,
        },
        user,
        status_code=422 if notice else 200,
    )
