"""Rendering console pages: templates, the page's user, language and security headers."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from api.active_accounts import account_active
from api.console.fault_texts import browser_fault_table, fault_summary
from api.console.i18n import LANGS, Lang, code, js_texts, translate, translator
from api.console.security import (
    CSRF_COOKIE,
    LANG_COOKIE,
    clear_session,
    csrf_for,
    make_nonce,
    security,
    session_principal,
    set_csrf_cookie,
    set_session,
)
from api.deps import Principal
from services.camera_watch import FACES_UNREAD
from services.container import Services
from vision.plate_grammar import is_valid_plate

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
# As many rows as the booth's list keeps (live.js MAX_ROWS): what its catch-up reads, from
# the database (routes.py) and from the journal (outage.py).
MAX_LIVE_ROWS = 200


def display_tz(request: Request) -> ZoneInfo:
    """The community's wall clock (``community.timezone``, Beijing time by default): every
    time on the console is shown in it and every date picked there means its day, whatever
    the server's or the browser's own zone."""
    return services_of(request).settings.community.zone_info()


# China's one clock under each name tzdata gives it (the others are links to Asia/Shanghai).
# Asia/Urumqi is not among them: Xinjiang communities often keep UTC+6 (test_community_timezone).
BEIJING_ZONES = frozenset({"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin",
                           "PRC"})


def zone_name(lang: Lang, tz: ZoneInfo) -> str:
    """What guards call the community's time: 北京时间 for China's one zone, else its name."""
    if tz.key in BEIJING_ZONES:
        return translate(lang, "tz.beijing")
    return translate(lang, "tz.other", name=tz.key)


def clock_name(lang: Lang, tz: ZoneInfo, at: datetime) -> str:
    """The community's time as a property manager reads it: 北京时间, else 当地时间 with the
    UTC offset it has at ``at`` (UTC+06:00), never an IANA name like Asia/Urumqi."""
    if tz.key in BEIJING_ZONES:
        return translate(lang, "tz.beijing")
    offset = at.astimezone(tz).strftime("%z")
    return translate(lang, "tz.offset", offset=f"UTC{offset[:3]}:{offset[3:]}")


def day_start(day: date | None, tz: ZoneInfo, plus_days: int = 0) -> datetime | None:
    """Midnight in ``tz`` at the start of ``day`` (+ ``plus_days``): what a date picked in a
    console filter means; None for no date."""
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=plus_days), time(0), tzinfo=tz)

def time_window(
    since: date | None, until: date | None, since_time: time | None, until_time: time | None,
    tz: ZoneInfo, today: date,
) -> tuple[datetime | None, datetime | None]:
    """What the filter's days and times of day mean, in the community's time zone: from
    ``since`` at ``since_time`` (midnight without one) up to the end of ``until``, or of the
    minute ``until_time`` names in it ("08:20" includes 08:20:59). A time without its own day
    is on the other one ("yesterday, 07:50 to 08:20" is one date and two times), or today."""
    if since_time and since is None:
        since = until or today
    if until_time and until is None:
        until = since or today
    start = datetime.combine(since, since_time or time(0), tzinfo=tz) if since else None
    end = None
    if until and until_time:
        minute = datetime.combine(until, until_time.replace(second=0), tzinfo=tz)
        end = minute + timedelta(minutes=1)
    elif until:
        end = day_start(until, tz, 1)
    return start, end


def page_links(
    path: str, params: dict[str, Any], page: int, total: int, per_page: int
) -> dict[str, Any]:
    """A filtered list's paging for its template: ``page``, ``pages`` and the links to the
    pages either side (None at the ends), each keeping the filters in ``params``.

    A page past the end (an old link after retention deleted rows, a typed page number)
    gets ``last_url``, so the page can say there is nothing here and where the rows are;
    its previous link is the last page rather than the empty one before it."""
    pages = max(1, -(-total // per_page))

    def url(number: int) -> str:
        return f"{path}?" + urlencode({**params, "page": number})

    return {
        "page": page,
        "pages": pages,
        "previous_url": url(min(page - 1, pages)) if page > 1 else None,
        "next_url": url(page + 1) if page < pages else None,
        "last_url": url(pages) if page > pages and total else None,
    }


# Everything the page loads comes from this origin: no CDN, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def local_time(
    value: datetime | str | None, tz: ZoneInfo, fmt: str = "%m-%d %H:%M:%S"
) -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(tz).strftime(fmt)


@pass_context
def _local_time_filter(
    context: Context, value: datetime | str | None, fmt: str = "%m-%d %H:%M:%S"
) -> str:
    """``{{ p.at | local_time }}``: in the zone ``render`` put in the page's context."""
    return local_time(value, context["tz"], fmt)


@dataclass(frozen=True, slots=True)
class AlarmView:
    """What the booth screen says about an alarm besides its gate: its kind's name and a hint
    in the page's language, the plate, and whether the car was decided offline."""

    label: str
    plate: str | None
    hint: str
    offline: bool


# Alarms store no plate column; the runtime writes the plate into the (English) message as a
# word of its own ("blocked_plate at main-in: 沪K60613", "visitor 沪K60613 on pass #3 …").
_MESSAGE_WORDS = re.compile(r"[\s:;,()（），：]+")


def alarm_plate(message: str) -> str | None:
    """The plate an alarm's stored message names, or None (gate faults, outages)."""
    for word in _MESSAGE_WORDS.split(message):
        if is_valid_plate(word):  # canonical plates only: "main-in" or "#3" never qualify
            return word
    return None


def alarm_view(lang: Lang, kind: str, message: str, *, pedestrian: bool = False) -> AlarmView:
    """``pedestrian``: raised at a gate people walk through, where a tailgater is a person
    who followed a resident in (尾随), not a car, and counts no parking space."""
    label = code(lang, kind)
    hint_key = f"alarm.hint.{kind}"
    if kind == "camera_offline" and FACES_UNREAD in message:
        hint_key += ".face"  # a face terminal's camera: no plate to type there
    if kind == "tailgating" and pedestrian:
        label = translate(lang, "code.tailgating.pedestrian")
        hint_key += ".pedestrian"
    hint = translate(lang, hint_key)
    return AlarmView(
        label=label,
        plate=alarm_plate(message),
        hint="" if hint == hint_key else hint,  # a new kind: its translated name says enough
        offline="(decided offline)" in message,
    )


_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["local_time"] = _local_time_filter
templates = Jinja2Templates(env=_env)


def current_lang(request: Request) -> Lang:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    return security(request).config.default_lang


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def gate_names(services: Services) -> dict[str, str]:
    """Each gate's name as guards know it (its id when it has none), in configured order."""
    return {g.id: g.name or g.id for g in services.settings.community.gates}


def zone_label(zone_id: str, name: str) -> str:
    """「A · A区地面」: a zone as the day and month reports name it, its id (what the
    configuration and the CSV files say) then the name on the boards, when it has another."""
    return f"{zone_id} · {name}" if name and name != zone_id else zone_id


def pedestrian_gates(services: Services) -> frozenset[str]:
    """The gates people walk through: their review cards speak of a person, not a car."""
    return frozenset(g.id for g in services.settings.community.gates if g.kind == "pedestrian")


def login_redirect(request: Request, *, expired: bool = False) -> RedirectResponse:
    """To the login form, back here after it. ``expired``: a session cookie came that is no
    longer accepted; its login page says so without claiming why (only the page's own idle
    log-out, ``idle=1``, says the guard was away)."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    suffix = "&expired=1" if expired else ""
    return RedirectResponse(f"/console/login?next={quote(target)}{suffix}", status_code=303)


def page_user(
    request: Request, *, admin: bool = False, during_outage: bool = False
) -> Principal | Response:
    """The logged-in staff member, or the response to send instead (login, 403 page).

    Deactivating a user ends their console session at the next page, not in 15 minutes.
    ``during_outage``: a page that works while the database is down lets in a guard this
    controller last knew active then (api/active_accounts.py)."""
    principal = session_principal(request)
    had_cookie = "parkgate_session" in request.cookies
    if principal is None or principal.role not in ("admin", "guard"):
        return login_redirect(request, expired=had_cookie)
    active = account_active(request.app.state, services_of(request).sessions, principal.name,
                            during_outage=during_outage, stamp=principal.password_stamp,
                            role=principal.role)
    if not active:
        # Drop the cookie too: the login page would otherwise send a still-signed session
        # straight back here, round and round.
        response = login_redirect(request)
        clear_session(request, response)
        return response
    if admin and not principal.is_admin:
        logger.info("guard %s refused admin page %s", principal.name, request.url.path)
        return render(request, "forbidden.html", {}, principal, status_code=403)
    return principal


def safe_next(target: str | None) -> str:
    """Only console paths: a login must not bounce the guard to another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    user: Principal | None,
    *,
    status_code: int = 200,
    refresh_session: bool = True,
) -> HTMLResponse:
    lang = current_lang(request)
    walked = pedestrian_gates(services_of(request))
    sec = security(request)
    cookie_nonce = request.cookies.get(CSRF_COOKIE)
    nonce = cookie_nonce or make_nonce()
    context = {
        "t": translator(lang),
        "code": lambda value: code(lang, value),
        "alarm_view": lambda alarm: alarm_view(
            lang, alarm.kind, alarm.message, pedestrian=alarm.gate_id in walked,
        ),
        # The gate strip: a driver's English fault text summarised (api/console/fault_texts.py).
        "fault_summary": lambda message: fault_summary(lang, message),
        "fault_table": lambda: browser_fault_table(lang),
        "lang": lang,
        "tz": display_tz(request),
        "user": user,
        "csrf": csrf_for(request, user.name if user else "", nonce=nonce),
        "idle_seconds": sec.config.idle_minutes * 60,
        "js_texts": json.dumps(js_texts(lang), ensure_ascii=False),
        "path": request.url.path,
        **context,
    }
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if cookie_nonce is None:
        set_csrf_cookie(request, response, nonce)
    for header, value in SECURITY_HEADERS.items():
        response.headers[header] = value
    if user is not None and refresh_session:
        set_session(request, response, user.name, user.role)  # sliding idle time-out
    return response
