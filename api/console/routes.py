"""Console pages for guards: login, logout, language, the live booth screen and fragments."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.active_accounts import check_login, name_for_log
from api.console.error_texts import browser_table
from api.console.i18n import LANGS, translate
from api.console.outage import degraded_parts
from api.console.rendering import (
    MAX_LIVE_ROWS,
    current_lang,
    gate_names,
    page_user,
    pedestrian_gates,
    render,
    safe_next,
    services_of,
)
from api.console.security import (
    LANG_COOKIE,
    clear_session,
    cookie_secure,
    end_session,
    new_csrf_nonce,
    session_principal,
    set_session,
    verify_csrf,
)
from api.console.throttle import login_throttle
from api.login_failures import login_failed
from api.params import PathId
from api.routes.alarms import (
    BOOTH_ALARMS,
    open_alarm_count,
    open_alarms,
    passages_to_open_for,
    passages_with_snapshot,
    unstored_alarms,
    without_stored,
)
from controllers.values import Reason
from errors import NotFoundError, PermissionDeniedError
from models.access_store import passage_to_dict
from models.db import DATABASE_DOWN
from models.events import AuditEntry, Passage
from models.people import Household, households_in_order
from models.vehicles import VisitorPass
from services.container import Services
from services.gate_actions import gate_states
from services.login_audit import LOGIN, LOGOUT, audit_login
from services.review import review_queue, review_waiting
from services.session_ends import logout_details
from services.tokens import new_session_id, session_fingerprint
from wall_clock import utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console", include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_STATIC_TYPES = {
    ".css": "text/css",
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
LIVE_ROWS = 50
# Preset reasons offered for every override; free text can be added to any of them.
PRESET_REASONS = ("reason.p1", "reason.p2", "reason.p3", "reason.p4", "reason.p5", "reason.p6")
# Why a guard types a plate (人工录入车牌): the camera is dark, or cannot see this plate.
TYPED_PLATE_REASONS = ("typed.p1", "typed.p2")
PASS_HOURS = (2, 4, 8, 24, 72)
# Texts live.js builds itself (toasts, ages, confirmations). They travel with the live page
# only, so the shared list every console page carries stays as it is.
LIVE_JS_KEYS = (
    "gates.state",
    "gates.done_open",
    "gates.done_close",
    "gates.done_hold_open",
    "gates.done_release",
    "gates.noop_open",
    "gates.noop_close",
    "gates.noop_hold_open",
    "gates.noop_release",
    "gates.now",
    "gates.done",
    "gates.journalled",
    "age.seconds",
    "age.minutes",
    "age.hours",
    "review.left_reason",
    "review.no_plate",
    "review.no_plate_reason",
    "review.plate_needed",
    "review.confirm_title",
    "review.confirm_old",
    "review.confirm_no_plate",
    "review.confirm_ok",
    "review.confirm_ok_no_plate",
    "review.type_plate",
    "action.cancel",
    "review.done_allow",
    "review.done_pass",
    "review.done_deny",
    "review.done_left",
    "review.barrier",
    "review.barrier_fault",
    "review.taken",
    "review.taken_first",
    "code.no_barrier",
    "review.host_needed",
    "review.person",
    "review.confirm_person",
    "review.confirm_ok_person",
    "review.confirm_title_person",
    "review.person_reason",
    "review.left_reason_person",
    "review.done_left_person",
    "gates.close_deferred",
    "review.needs_database",  # a page open when the database goes away pauses its queue
    "typed.plate_needed",
    "typed.done_allow",
    "typed.done_review",
    "typed.done_deny",
    "typed.matched",
    "typed.repeat",
    "alarms.ack",  # the acknowledgement dialog's title
    "alarms.taken_first",
)
# A resolution's audit entry is written in the resolving transaction, a moment after
# resolved_at; the margin lets the look-up use the index on ``at`` (there is none on
# passage_id) without missing it.
_AUDIT_MARGIN = timedelta(minutes=5)


@router.get("/static/{name}")
def static_file(name: str) -> FileResponse:
    """The console's own CSS/JS, served from api/static (no CDN, works offline)."""
    if "\x00" in name:  # the OS refuses such a path with an error, not "not found"
        raise NotFoundError("no such static file")
    path = (STATIC_DIR / name).resolve()
    media_type = _STATIC_TYPES.get(path.suffix)
    if path.parent != STATIC_DIR or media_type is None or not path.is_file():
        raise NotFoundError(f"no static file {name!r}")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request,
    next: str | None = None,
    idle: bool = False,
    expired: bool = False,
    bye: bool = False,
) -> Response:
    """``idle``: the page logged itself out after idle_minutes without input (common.js).
    ``expired``: the session was found gone — a token past its time, a cookie cleared, a new
    signing key — which says nothing about why, so neither does the notice."""
    if session_principal(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    notice = "login.expired" if idle else "login.ended" if expired else "login.bye" if bye else None
    return render(
        request, "login.html", {"next": safe_next(next), "notice": notice, "error": None}, None
    )


def wait_text(request: Request, seconds: int) -> str:
    """How long a throttled login waits, as the guard reads it: seconds up to a minute (the
    first pauses are 30 s and 60 s), whole minutes above, rounded up so it is never early."""
    lang = current_lang(request)
    if seconds <= 60:
        return translate(lang, "login.wait_seconds", n=seconds)
    return translate(lang, "login.wait_minutes", n=-(-seconds // 60))


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console",
) -> Response:
    def refuse(error: str, status_code: int, **values: str) -> Response:
        return render(
            request,
            "login.html",
            {
                "next": safe_next(next),
                "notice": None,
                "error": error,
                "error_values": values,
                "username": username,
            },
            None,
            status_code=status_code,
        )

    try:
        await verify_csrf(request, "", csrf_token)  # login CSRF: the anonymous token
    except PermissionDeniedError:
        return refuse("login.stale", 403)
    # The name as it is checked, for the throttle too: counted as typed, " guard1", "guard1 "
    # and every other padding were each a fresh count of guesses at the one account.
    username = username.strip()
    address = request.client.host if request.client else "?"
    throttle = login_throttle(request)
    wait = throttle.retry_after(address, username)
    if wait > 0:
        refusals = throttle.refused(address, username, wait)
        # The pause's first refusal; the rest of it at DEBUG (the pause's length is known).
        logger.log(logging.WARNING if refusals == 1 else logging.DEBUG,
                   "console login for %s from %s throttled, refused for %.0f s more "
                   "(refusal %d of this pause)", name_for_log(request.app.state, username),
                   address, wait, refusals)
        seconds = math.ceil(wait)  # whole seconds, never shorter than the pause
        response = refuse("login.throttled", 429, wait=wait_text(request, seconds))
        response.headers["Retry-After"] = str(seconds)
        return response
    # argon2 takes tens of milliseconds: in a thread, off the event loop.
    services = services_of(request)
    found = await asyncio.to_thread(
        check_login, request.app.state, services.sessions, username, password
    )
    if found.account is None:
        logger.info("console login failed for %s from %s", found.name_for_log(username), address)
        await login_failed(
            services,
            throttle,
            username,
            via="console",
            address=address,
            database_down=found.database_down,
        )
        # One answer for a wrong password and an account not known now: which accounts
        # this process remembers is not for a guesser to learn.
        return refuse("login.outage_refused" if found.database_down else "login.failed", 401)
    throttle.succeeded(address, username)
    name, role = found.account.username, found.account.role
    logger.info(
        "console login%s: %s (%s)",
        " during a database outage" if found.database_down else "",
        name,
        role,
    )
    session_id = new_session_id()  # never one planted before the login
    await asyncio.to_thread(
        audit_login,
        services,
        LOGIN,
        name,
        via="console",
        address=address,
        database_down=found.database_down,
        role=role,
        session=session_fingerprint(session_id),
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session(request, response, name, role, new=True, session_id=session_id,
                password_stamp=found.account.stamp)
    new_csrf_nonce(request, response)  # a nonce planted before login does not survive it
    return response


@router.post("/logout")
async def logout(
    request: Request,
    csrf_token: Annotated[str, Form()] = "",
    idle: Annotated[bool, Form()] = False,
    next: Annotated[str, Form()] = "/console",
) -> Response:
    principal = session_principal(request)
    if principal is not None:
        await verify_csrf(request, principal.name, csrf_token)
        logger.info("console %s: %s", "idle log-out" if idle else "logout", principal.name)
        address = request.client.host if request.client else "?"
        # Not only this browser's cookie: every copy of it, at once, then for good through
        # the audit entry that names it (read back at a restart).
        ended = end_session(request)
        kept = await asyncio.to_thread(
            audit_login,
            services_of(request),
            LOGOUT,
            principal.name,
            via="console",
            address=address,
            idle=idle,
            **(logout_details(*ended) if ended else {}),
        )
        if ended and not kept:
            logger.warning(
                "console log-out of %s ended in this process only: a restart "
                "accepts copies of its cookie again until they expire",
                principal.name,
            )
    # The page logs itself out after idle_minutes: say why, and come back to that page.
    target = (
        f"/console/login?idle=1&next={quote(safe_next(next))}" if idle else "/console/login?bye=1"
    )
    response = RedirectResponse(target, status_code=303)
    clear_session(request, response)
    return response


@router.post("/lang")
async def set_language(
    request: Request,
    lang: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/console",
) -> Response:
    principal = session_principal(request)
    await verify_csrf(request, principal.name if principal else "", csrf_token)
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in LANGS:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            samesite="lax",
            path="/",
            secure=cookie_secure(request),
            httponly=True,
        )
    return response


@router.post("/keepalive")
async def keepalive(request: Request) -> Response:
    """Called by the page while the guard is using it: renews the idle time-out."""
    principal = session_principal(request)
    if principal is None:
        return JSONResponse({"detail": "session expired"}, status_code=401)
    await verify_csrf(request, principal.name)
    response = JSONResponse({"ok": True})
    set_session(request, response, principal.name, principal.role)
    return response


def _passages(limit: int) -> Any:
    return select(Passage).order_by(Passage.at.desc(), Passage.id.desc()).limit(limit)


def _live_rows(session: Any, passages: Iterable[Passage]) -> list[dict[str, Any]]:
    """Stored passages as the booth's live table renders them: with what their resolution
    said, and the journal entry a passage decided offline was written from, so that a page
    that missed its write-back replaces that entry's row with it instead of showing the car
    twice (live.js refreshRows). Kept out of passage_to_dict, which the API answers with."""
    rows = []
    for passage in passages:
        row = passage_to_dict(passage)
        row["journal_id"] = passage.journal_id
        rows.append(row)
    return _with_resolutions(session, rows)


def _household_labels(session: Session, rows: list[dict[str, Any]]) -> dict[int, str]:
    """「3栋 1201」 for the households ``rows`` name (their own or the one a guard's
    resolution gave them): what a live row shows beside the plate."""
    ids = {hid for r in rows for hid in (r["household_id"], r["resolved_household_id"]) if hid}
    if not ids:
        return {}
    households = session.scalars(select(Household).where(Household.id.in_(ids)))
    return {h.id: h.label for h in households}


def _households(session: Any) -> list[Household]:
    return households_in_order(session)


def _with_resolutions(session: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Adds to resolved rows what the guard's resolution said and created.

    Passages are append-only, so the visitor pass registered while resolving and the
    guard's reason live only in the resolution's audit entry; without them the row would
    keep "—" where the host household and pass belong.
    """
    for row in rows:
        row.update(resolve_reason=None, resolved_pass_id=None, resolved_household_id=None)
    resolved = {row["id"]: row for row in rows if row["resolution"] and row["resolved_at"]}
    if not resolved:
        return rows
    since = min(datetime.fromisoformat(r["resolved_at"]) for r in resolved.values())
    entries = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.at >= since - _AUDIT_MARGIN)
        .where(AuditEntry.action == "passage.resolve")
        .where(AuditEntry.passage_id.in_(list(resolved)))
        .order_by(AuditEntry.id)
    )
    pass_of: dict[int, int] = {}
    for entry in entries:
        row = resolved[entry.passage_id]
        row["resolve_reason"] = entry.reason
        pass_id = (entry.details or {}).get("pass_id")
        if isinstance(pass_id, int):
            row["resolved_pass_id"] = pass_of[entry.passage_id] = pass_id
    if pass_of:
        hosts: dict[int, int] = {
            pass_id: host_id
            for pass_id, host_id in session.execute(
                select(VisitorPass.id, VisitorPass.host_household_id).where(
                    VisitorPass.id.in_(set(pass_of.values()))
                )
            )
        }
        for passage_id, pass_id in pass_of.items():
            resolved[passage_id]["resolved_household_id"] = hosts.get(pass_id)
    return rows


# Cards the booth page shows at once, the oldest: a guard serves the longest wait first.
REVIEW_CARDS = 20


def _review_cards(session: Any, now: datetime) -> list[dict[str, Any]]:
    """The queue with each car's wait in seconds: a guard must see how old a request is
    before opening the barrier for it (the car may have gone)."""
    cards = [passage_to_dict(p) for p in review_queue(session, REVIEW_CARDS)]
    for card in cards:
        waited = now - datetime.fromisoformat(card["at"])
        card["age_s"] = max(0, int(waited.total_seconds()))
    return cards


def _live_texts(request: Request) -> str:
    lang = current_lang(request)
    texts = {key: translate(lang, key) for key in LIVE_JS_KEYS}
    # A typed plate's toast says why it was decided so (业主车辆, 黑名单…), as its row does.
    texts.update({f"code.{reason}": translate(lang, f"code.{reason}") for reason in Reason})
    return json.dumps(texts, ensure_ascii=False)


@router.get("", response_class=HTMLResponse)
def console_home(request: Request) -> Response:
    """The booth page. While the database is down, for staff last seen active, the degraded
    page (api/console/outage.py): gates and their controls, passages from the journal,
    alarms not stored yet; a stranger to this process still gets the outage page (503)."""
    user = page_user(request, during_outage=True)
    if isinstance(user, Response):
        return user
    services = services_of(request)
    now = utcnow()
    unstored = unstored_alarms(services)  # before the rows: see without_stored
    try:
        parts = _stored_parts(services, now, unstored)
    except DATABASE_DOWN as err:
        logger.info(
            "console for %s without the database (%s): gates, journal and unstored alarms only",
            user.name,
            type(err).__name__,
        )
        parts = {**degraded_parts(services, LIVE_ROWS), "unstored_alarms": unstored}
    names = gate_names(services)
    return render(
        request,
        "console.html",
        {
            "gates": gate_states(services),
            "gate_names": names,
            "pedestrian_gates": pedestrian_gates(services),
            "now": now.isoformat(),
            "live_texts": _live_texts(request),
            "error_table": browser_table(current_lang(request), names),
            "presets": PRESET_REASONS,
            "typed_presets": TYPED_PLATE_REASONS,
            "pass_hours": PASS_HOURS,
            **parts,
        },
        user,
    )


def _stored_parts(services: Services, now: datetime, unstored: list[Any]) -> dict[str, Any]:
    """What the booth page reads from the database."""
    with services.sessions() as session:
        passages = _live_rows(session, session.scalars(_passages(LIVE_ROWS)))
        review = _review_cards(session, now)
        waiting = review_waiting(session)
        alarms = _alarm_parts(session, services, unstored)
        households = _households(session)
    return {
        "passages": passages,
        "review": review,
        "review_waiting": waiting,
        **alarms,
        "households": households,
        "hh_labels": {h.id: h.label for h in households},
    }


def _alarm_parts(session: Session, services: Services, unstored: list[Any]) -> dict[str, Any]:
    """What fragments/alarms.html reads from the database, for the page and its polls."""
    alarms = open_alarms(session)
    return {
        "alarms": alarms,
        # A shift's worth left open lists only the newest: the screen says how many more wait.
        "alarms_open": (
            open_alarm_count(session) if len(alarms) >= BOOTH_ALARMS else len(alarms)
        ),
        "alarm_snapshots": passages_with_snapshot(session, services.snapshots, alarms),
        "alarm_opens": passages_to_open_for(session, alarms, services.barriers),
        "unstored_alarms": without_stored(session, unstored),
        "database_down": False,
    }


@router.get("/fragments/passage/{passage_id}", response_class=HTMLResponse)
def passage_fragment(request: Request, passage_id: PathId) -> Response:
    """One live row, rendered by the same template as the page (the browser adds it)."""
    user = page_user(request)
    if isinstance(user, Response):
        return Response(status_code=401)
    services = services_of(request)
    with services.sessions() as session:
        passage = session.get(Passage, passage_id)
        if passage is None:
            raise NotFoundError(f"passage {passage_id} not found")
        row = _live_rows(session, [passage])[0]
        labels = _household_labels(session, [row])
    return render(
        request,
        "fragments/passage_row.html",
        {"p": row, "gate_names": gate_names(services), "hh_labels": labels},
        user,
        refresh_session=False,
    )


@router.get("/fragments/passages", response_class=HTMLResponse)
def passages_fragment(
    request: Request, limit: Annotated[int, Query(ge=1, le=MAX_LIVE_ROWS)] = LIVE_ROWS
) -> Response:
    """The newest rows as stored now, rendered as the page renders them: after its stream
    was down or fell behind, the booth refreshes the rows it shows (resolved at another
    booth, a car counted again) and adds those it missed, in one read instead of one per
    row."""
    user = page_user(request)
    if isinstance(user, Response):
        return Response(status_code=401)
    services = services_of(request)
    with services.sessions() as session:
        passages = _live_rows(session, session.scalars(_passages(limit)))
        labels = _household_labels(session, passages)
    return render(
        request,
        "fragments/passage_rows.html",
        {"passages": passages, "gate_names": gate_names(services), "hh_labels": labels},
        user,
        refresh_session=False,
    )


@router.get("/fragments/review", response_class=HTMLResponse)
def review_fragment(request: Request) -> Response:
    user = page_user(request)
    if isinstance(user, Response):
        return Response(status_code=401)
    services = services_of(request)
    now = utcnow()
    with services.sessions() as session:
        review = _review_cards(session, now)
        waiting = review_waiting(session)
        households = _households(session)
    return render(
        request,
        "fragments/review.html",
        {
            "review": review,
            "review_waiting": waiting,
            "households": households,
            "gate_names": gate_names(services),
            "pedestrian_gates": pedestrian_gates(services),
            "presets": PRESET_REASONS,
            "pass_hours": PASS_HOURS,
            "now": now.isoformat(),
        },
        user,
        refresh_session=False,
    )


@router.get("/fragments/alarms", response_class=HTMLResponse)
def alarms_fragment(request: Request) -> Response:
    """The open alarms. During a database outage, the ones raised since it began (from the
    journal, marked not stored yet, without the acknowledge button): the page keeps the
    stored ones it showed, which cannot be read meanwhile."""
    user = page_user(request, during_outage=True)
    if isinstance(user, Response):
        return Response(status_code=401)
    services = services_of(request)
    unstored = unstored_alarms(services)  # before the rows: see without_stored
    try:
        with services.sessions() as session:
            parts = _alarm_parts(session, services, unstored)
    except DATABASE_DOWN as err:
        logger.debug("alarm list from the journal only, the database is down: %s", err)
        # The degraded page's banner keeps its counts of what waits from this poll.
        parts = {
            "alarms": [],
            "unstored_alarms": unstored,
            "database_down": True,
            "waiting_passages": len(services.runtime.journalled_passages()),
            "waiting_actions": services.audit_backlog(),
        }
    return render(
        request,
        "fragments/alarms.html",
        {**parts, "gate_names": gate_names(services)},
        user,
        refresh_session=False,
    )
