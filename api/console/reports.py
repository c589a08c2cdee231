"""The reports page (admin): one Beijing day at the gates, its occupancy chart and CSV.

The property office reads a day here rather than on the command line: how many cars came and
went, how many the gates let in on their own, what was refused, what the guards did by hand,
which alarms were raised, how full each zone got. The chart is drawn on request in the
console's language (matplotlib, ~0.3 s) and never stored.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import AfterValidator

from api.console.audit_texts import action_label
from api.console.error_texts import explain_message
from api.console.i18n import Lang, translate
from api.console.rendering import (
    clock_name,
    current_lang,
    display_tz,
    page_user,
    pedestrian_gates,
    render,
    services_of,
)
from api.params import Day, day_in_service_span
from api.routes.reports import MONTH_MAX_TYPED, load_day, load_month
from errors import InvalidInputError
from services.month_summary import fullest_zone, hand_actions, write_month_csv
from services.reports import (
    CHINESE_LABELS,
    ENGLISH_LABELS,
    ChartLabels,
    local_day_bounds,
    plot_png,
    write_csv,
)
from wall_clock import utcnow

router = APIRouter(prefix="/console/admin/reports", include_in_schema=False)

PathDay = Annotated[date, Path(), AfterValidator(day_in_service_span)]


def _today(request: Request) -> date:
    return utcnow().astimezone(display_tz(request)).date()


@router.get("", response_class=HTMLResponse)
def reports_page(request: Request, day: Day = None) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    lang = current_lang(request)
    today = _today(request)
    day = day or today
    context: dict[str, Any] = {
        "day": day,
        "previous": day - timedelta(days=1),
        "following": day + timedelta(days=1) if day < today else None,
        "today": today,
    }
    services = services_of(request)
    try:
        with services.sessions() as session:
            _, summary = load_day(session, day, display_tz(request), pedestrian_gates(services))
    except InvalidInputError:
        # A day that has not begun: say so on the page rather than answer with JSON.
        return render(
            request,
            "admin/reports.html",
            {**context, "summary": None, "notice": translate(lang, "report.future")},
            user,
            status_code=422,
        )
    guard_rows = [
        (name, [(action_label(lang, action), n) for action, n in actions.items()])
        for name, actions in summary.guard_actions.items()
    ]
    return render(
        request,
        "admin/reports.html",
        {**context, "summary": summary, "guard_rows": guard_rows, "notice": None},
        user,
    )


@router.get("/month", response_class=HTMLResponse)
def month_page(
    request: Request, month: str | None = Query(None, max_length=MONTH_MAX_TYPED)
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    lang = current_lang(request)
    today = _today(request)
    month = month or f"{today:%Y-%m}"
    services = services_of(request)
    try:
        with services.sessions() as session:
            summary = load_month(session, month, display_tz(request), pedestrian_gates(services))
    except InvalidInputError as err:
        return render(
            request,
            "admin/month_report.html",
            {
                "month": month,
                "summary": None,
                "today": today,
                # Firefox and Safari have no month picker: the month is typed.
                "notice": explain_message(lang, str(err)),
            },
            user,
            status_code=422,
        )
    first = date(summary.year, summary.month, 1)
    previous = (first - timedelta(days=1)).strftime("%Y-%m")
    following = (first + timedelta(days=32)).replace(day=1)
    rows = [
        {
            "day": d,
            "fullest": fullest_zone(d),
            # By name too, as the day report's 区域 column (A · A区地面): the office knows
            # the zones by the names on the boards, the CSV keeps the id.
            "zone_names": {z.zone: z.name for z in d.zones},
            "hand": hand_actions(d),
            "alarms": sum(d.alarms.values()),
        }
        for d in summary.days
    ]
    return render(
        request,
        "admin/month_report.html",
        {
            "month": month,
            "summary": summary,
            "rows": rows,
            "notice": None,
            "previous": previous,
            "following": following.strftime("%Y-%m") if following <= today else None,
            "lang": lang,
        },
        user,
    )


@router.get("/month/{month}.csv")
def month_csv(request: Request, month: str) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    services = services_of(request)
    with services.sessions() as session:
        summary = load_month(session, month, display_tz(request), pedestrian_gates(services))
    out = io.StringIO()
    write_month_csv(summary, out)
    return _csv_download(out.getvalue(), f"parkgate-{month}.csv")


def chart_labels(lang: Lang, tz: ZoneInfo, day: date) -> ChartLabels:
    """The chart's words in the page's language, its hours axis named 北京时间 (or by its UTC
    offset): "当地时间（Asia/Shanghai）" was an IANA name no property manager reads."""
    labels = CHINESE_LABELS if lang == "zh" else ENGLISH_LABELS
    start, _ = local_day_bounds(day, tz)
    # plot_png fills in {tz}; a name with braces in it would not survive that, and has none.
    return replace(labels, local_time=clock_name(lang, tz, start))


@router.get("/{day}/occupancy.png")
def occupancy_png(request: Request, day: PathDay) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    lang = current_lang(request)
    tz = display_tz(request)
    with services_of(request).sessions() as session:
        occupancy, _ = load_day(session, day, tz)
    out = io.BytesIO()
    community = services_of(request).settings.community.name
    plot_png(
        occupancy,
        out,
        title=translate(lang, "report.chart_title", community=community, day=day.isoformat()),
        labels=chart_labels(lang, tz, day),
    )
    # Today's chart changes with every car; a past day's does not, but stays private.
    return Response(
        out.getvalue(), media_type="image/png", headers={"Cache-Control": "private, no-cache"}
    )


@router.get("/{day}/occupancy.csv")
def occupancy_csv(request: Request, day: PathDay) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        occupancy, _ = load_day(session, day, display_tz(request))
    out = io.StringIO()
    write_csv(occupancy, out)
    return _csv_download(out.getvalue(), f"occupancy-{day.isoformat()}.csv")


def _csv_download(text: str, filename: str) -> Response:
    # A BOM so that Excel, which the property office opens it in, reads the zone names as
    # UTF-8 rather than GBK.
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-cache",
        },
    )
