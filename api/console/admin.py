"""Admin pages: users, households/residents/vehicles, passes, plate lists and the audit log.

Users are managed with plain forms here, by the rules /api/v1/users follows too
(services/users.py); the other tables are edited by the page's script through the existing
JSON API with the CSRF header. The passes page is open to guards too: they register visitors
at the booth.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import func, select

from api.active_accounts import account_changed
from api.console.audit_texts import (
    AUDIT_ACTIONS,
    action_label,
    audit_details,
    audit_reason,
    audit_target,
)
from api.console.error_texts import browser_table, explain_message
from api.console.household_search import PAGE_FLATS, flats_page
from api.console.i18n import translate
from api.console.pass_schedule import schedule_text
from api.console.rendering import (
    current_lang,
    display_tz,
    gate_names,
    page_links,
    page_user,
    render,
    services_of,
    time_window,
    zone_name,
)
from api.console.security import verify_csrf
from api.deps import Principal
from api.params import Clock, Day, PathId, QueryId
from controllers.policy import PassPermit
from controllers.schedule import WEEKDAYS
from controllers.values import Reason
from errors import ConflictError, InvalidInputError
from models.db import transaction
from models.faces import FaceTemplate
from models.people import Household, Resident, households_in_order
from models.site import Zone
from models.vehicles import PlateListEntry, Vehicle, VisitorPass
from services.audit_log import AuditQuery, audit_to_dict, search_audit
from services.container import Services
from services.known_staff import KnownAccount
from services.login_audit import last_logins
from services.users import (
    OwnAccountError,
    add_account,
    reset_password_of,
    set_active,
    staff_accounts,
)
from wall_clock import utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/admin", include_in_schema=False)

AUDIT_PAGE = 200
# 200 rows a page: the first 2000 pages reach 400,000 entries; narrow the dates beyond that.
AUDIT_MAX_PAGE = 2000
# Notices the users page is sent by key; any other ?error= is an API message to translate.
USER_NOTICES = frozenset({"users.self", "users.password_mismatch", "users.self_password"})

PassStatus = Literal["valid", "not_yet", "expired", "used_up"]
_PASS_STATUS: dict[Reason | None, PassStatus] = {
    None: "valid",
    Reason.PASS_NOT_YET_VALID: "not_yet",
    Reason.PASS_EXPIRED: "expired",
    Reason.PASS_USED_UP: "used_up",
}
# Prefilled on the pass form: a visit from now, for one day.
DEFAULT_PASS_HOURS = 24


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    return RedirectResponse("/console/admin/users", status_code=303)


def admin_page(request: Request, name: str, context: dict[str, Any], user: Principal, *,
               status_code: int = 200) -> Response:
    """An admin page, with the table admin.js translates the API's errors with."""
    table = browser_table(current_lang(request))
    return render(request, name, {"error_table": table, **context}, user,
                  status_code=status_code)


@router.get("/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    msg: str | None = None,
    error: str | None = None,
    # A refused form comes back with what was typed (never the password).
    username: str = Query("", max_length=64),
    role: str = Query("guard", max_length=16),
    # A refused 重设密码: whose, so that its panel is open with the refusal in it.
    reset: int | None = Query(None, ge=1),
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        users = staff_accounts(session)
        last_login = last_logins(session)
    lang = current_lang(request)
    error_text = error_detail = None
    if error in USER_NOTICES:
        error_text = translate(lang, error)
    elif error:
        # The service's English message stays as the tooltip, for whoever reports it.
        error_text, error_detail = explain_message(lang, error), error
    return admin_page(request, "admin/users.html",
                   {"users": users, "last_login": last_login, "msg": msg,
                    "error_text": error_text, "error_detail": error_detail,
                    "typed": {"username": username, "role": role},
                    "reset_refused": reset if error_text else None}, user)


def _create_user(
    services: Services, actor: str, username: str, password: str, role: str
) -> KnownAccount:
    with transaction(services.sessions) as session:
        return KnownAccount.of(add_account(session, actor, username, password, role))


@router.post("/users")
async def create_user_form(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    role: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    await verify_csrf(request, user.name, csrf_token)
    try:
        account = await asyncio.to_thread(
            _create_user, services_of(request), user.name, username.strip(), password, role
        )
    except (InvalidInputError, ConflictError) as err:
        query = urlencode({"error": str(err), "username": username, "role": role})
        return RedirectResponse(f"/console/admin/users?{query}", status_code=303)
    # Known to logins during a database outage at once, not at the next refresh.
    account_changed(request.app.state, account, active=True)
    logger.info("user %s created by %s as %s", username, user.name, role)
    return RedirectResponse("/console/admin/users?msg=users.created", status_code=303)


def _set_active(services: Services, actor: str, user_id: int, active: bool) -> KnownAccount:
    """The account as it is now. In a thread: on PostgreSQL it may wait for the row lock
    another admin's change of an admin holds (services/users.py)."""
    with transaction(services.sessions) as session:
        return KnownAccount.of(set_active(session, actor, user_id, active))


@router.post("/users/{user_id}/active")
async def set_user_active(
    request: Request,
    user_id: PathId,
    active: Annotated[bool, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    await verify_csrf(request, user.name, csrf_token)
    try:
        account = await asyncio.to_thread(
            _set_active, services_of(request), user.name, user_id, active
        )
    except OwnAccountError:
        return RedirectResponse("/console/admin/users?error=users.self", status_code=303)
    except ConflictError as err:  # the last active admin
        query = urlencode({"error": str(err)})
        return RedirectResponse(f"/console/admin/users?{query}", status_code=303)
    # Deactivated: at once, not even a login during a database outage may let them in.
    # Reactivated: such a login checks the new sessions generation, not one remembered from
    # before the deactivation (a deactivation made elsewhere may not have been seen yet).
    account_changed(request.app.state, account, active=active)
    return RedirectResponse("/console/admin/users?msg=msg.saved", status_code=303)


def _reset_password(
    services: Services, actor: str, user_id: int, password: str
) -> tuple[KnownAccount, bool] | None:
    """The account with its new hash, and whether it is active; None: it is the actor's
    own."""
    try:
        with transaction(services.sessions) as session:
            target = reset_password_of(session, actor, user_id, password)
            return KnownAccount.of(target), target.active
    except OwnAccountError:
        return None


@router.post("/users/{user_id}/password")
async def reset_password_form(
    request: Request,
    user_id: PathId,
    password: Annotated[str, Form(max_length=256)],
    password_again: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    await verify_csrf(request, user.name, csrf_token)
    if password != password_again:
        return RedirectResponse(
            f"/console/admin/users?error=users.password_mismatch&reset={user_id}", status_code=303
        )
    try:
        reset = await asyncio.to_thread(
            _reset_password, services_of(request), user.name, user_id, password
        )
    except InvalidInputError as err:
        query = urlencode({"error": str(err), "reset": user_id})
        return RedirectResponse(f"/console/admin/users?{query}", status_code=303)
    if reset is None:
        return RedirectResponse("/console/admin/users?error=users.self_password",
                                status_code=303)
    account, active = reset
    # The staff file for logins during a database outage gets the new hash now, not at the
    # next refresh: the old password must not open the booth in an outage that starts soon.
    account_changed(request.app.state, account, active=active)
    logger.info("password of %s reset by %s", account.username, user.name)
    return RedirectResponse("/console/admin/users?msg=users.password_reset", status_code=303)


@router.get("/households", response_class=HTMLResponse)
def households_page(
    request: Request,
    q: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        households = households_in_order(session)
        residents = list(session.scalars(select(Resident).order_by(Resident.id)))
        vehicles = list(session.scalars(select(Vehicle).order_by(Vehicle.id)))
        # Said in a resident's delete confirmation: their face data goes with them.
        faces: dict[int, int] = {
            resident_id: count for resident_id, count in session.execute(
                select(FaceTemplate.resident_id, func.count()).group_by(FaceTemplate.resident_id)
            )
        }
    shown = flats_page(households, residents, vehicles, q, page)
    # The pickers of the forms that add a resident or a car list every flat, not the page's.
    labels = {h.id: f"{h.building} {h.unit}" for h in households}
    # A car's driver is picked among its own household's residents (shown.members). Looked
    # up by id: each car's row searched every resident twice (its name, its driver picker).
    names = {resident.id: resident.name for resident in residents}
    return admin_page(request, "admin/households.html",
                   {"households": households, "shown": shown, "labels": labels,
                    "faces": faces, "members": shown.members, "names": names,
                    **page_links("/console/admin/households",
                                 {"q": shown.query} if shown.query else {}, shown.page,
                                 shown.found, PAGE_FLATS)}, user)


def pass_status(visitor_pass: VisitorPass, now: datetime) -> PassStatus:
    """Whether the pass's window holds now and it has uses left, by the rule the gate itself
    applies; a recurring pass's weekdays and hours are shown beside it (通行日与时段)."""
    permit = PassPermit(
        pass_id=visitor_pass.id, plate=visitor_pass.plate,
        household_id=visitor_pass.host_household_id, valid_from=visitor_pass.valid_from,
        valid_to=visitor_pass.valid_to, max_uses=visitor_pass.max_uses, uses=visitor_pass.uses,
    )
    return _PASS_STATUS[permit.window_status(now)]


def _utc_offset(moment: datetime) -> str:
    """The zone the pass form's times are in, as "+08:00" (datetime-local has none)."""
    offset = moment.strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


@router.get("/passes", response_class=HTMLResponse)
def passes_page(request: Request) -> Response:
    # Guards too: they register visitors at the booth (POST /api/v1/passes is for staff).
    # Deleting stays with admins, as in the API, so guards get no delete buttons.
    user = page_user(request)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        households = households_in_order(session)
        passes = list(session.scalars(
            select(VisitorPass).order_by(VisitorPass.valid_from.desc()).limit(500)))
    now = utcnow()
    start = now.astimezone(display_tz(request))
    end = start + timedelta(hours=DEFAULT_PASS_HOURS)
    labels = {h.id: f"{h.building} {h.unit}" for h in households}
    return admin_page(
        request, "admin/passes.html",
        {"passes": [(p, pass_status(p, now), schedule_text(current_lang(request), p.weekdays,
                                                           p.hours_from, p.hours_to))
                    for p in passes],
         "households": households, "weekdays": WEEKDAYS,
         "labels": labels, "can_delete": user.is_admin, "tz_offset": _utc_offset(start),
         "tz_name": zone_name(current_lang(request), display_tz(request)),
         # The value format of <input type="datetime-local">, in the community's time.
         "default_from": start.strftime("%Y-%m-%dT%H:%M"),
         "default_to": end.strftime("%Y-%m-%dT%H:%M")},
        user,
    )


@router.get("/lists", response_class=HTMLResponse)
def lists_page(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        entries = list(session.scalars(select(PlateListEntry).order_by(PlateListEntry.id)))
    return admin_page(request, "admin/lists.html", {"entries": entries}, user)



@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    user_name: str | None = Query(None, alias="user", max_length=64),
    action: str | None = Query(None, max_length=64),
    gate: str | None = Query(None, max_length=32),
    since: Day | None = None,
    until: Day | None = None,
    since_time: Clock = None,
    until_time: Clock = None,
    passage: QueryId = None,
    page: Annotated[int, Query(ge=1, le=AUDIT_MAX_PAGE)] = 1,
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    # Dates are the community's calendar days; "until" includes the whole day, or the minute
    # of its time ("who opened the east gate yesterday 07:50-08:20?", 通行记录's link).
    tz = display_tz(request)
    start, end = time_window(since, until, since_time, until_time, tz,
                             utcnow().astimezone(tz).date())  # the controller's day
    query = AuditQuery(
        user=user_name or None, action=action or None, gate_id=gate or None,
        since=start, until=end, passage_id=passage,
    )
    notice = None
    if since and until and since > until:
        # Listed nothing, read as "nobody opened the gate then", as on 通行记录.
        notice = translate(current_lang(request), "alarm_history.days_reversed")
    elif start and end and start >= end:
        # 08:20 to 07:50 (or 22:00 to 02:00 on one date) listed nothing, the same.
        notice = translate(current_lang(request), "history.times_reversed")
    with services_of(request).sessions() as session:
        rows, total = ([], 0) if notice else search_audit(
            session, query, limit=AUDIT_PAGE, offset=(page - 1) * AUDIT_PAGE
        )
        households = {h.id: f"{h.building} {h.unit}" for h in session.scalars(select(Household))}
        residents = {rid: name for rid, name in session.execute(select(Resident.id, Resident.name))}
        # Retired zones too: an entry from before a zone was retired still names it.
        zones = {z.id: z.name or z.id for z in session.scalars(select(Zone))}
    params: dict[str, Any] = {
        k: v for k, v in {
            "user": query.user, "action": query.action, "gate": query.gate_id,
            "since": query.since.isoformat() if query.since else None,
            "until": query.until.isoformat() if query.until else None,
            "passage": passage,
        }.items() if v
    }
    lang = current_lang(request)
    names = gate_names(services_of(request))
    entries = []
    for row in rows:
        entry = audit_to_dict(row)
        entry["action_label"] = action_label(lang, row.action)
        entry["detail_pairs"] = audit_details(lang, entry["details"], households, tz, residents,
                                              zones, names)
        entry["target_text"] = audit_target(lang, row.target, households, residents, zones)
        entry["reason_text"] = audit_reason(lang, row.reason)
        entry["details_text"] = json.dumps(entry["details"], ensure_ascii=False)
        entries.append(entry)
    known = {a for actions in AUDIT_ACTIONS.values() for a in actions} | set(AUDIT_ACTIONS)
    # The pages keep the filters as the form sent them (local days, not the UTC bounds).
    filters = {"user": user_name or "", "action": action or "", "gate": gate or "",
               "since": since.isoformat() if since else "",
               "until": until.isoformat() if until else "",
               "since_time": since_time.strftime("%H:%M") if since_time else "",
               "until_time": until_time.strftime("%H:%M") if until_time else "",
               # one passage's entries (通行记录's link), kept through the pages
               "passage": str(passage) if passage else ""}
    pages = max(1, -(-total // AUDIT_PAGE))

    def page_url(number: int) -> str:
        return "/console/admin/audit?" + urlencode(
            {**{k: v for k, v in filters.items() if v}, "page": number}
        )

    return admin_page(
        request, "admin/audit.html",
        {"rows": entries, "total": total, "page": page, "pages": pages,
         # Past the end (a bookmarked page of a log since filtered): back to the last page.
         "newer_url": page_url(min(page - 1, pages)) if page > 1 else None,
         "older_url": page_url(page + 1) if page < pages else None,
         "last_url": page_url(pages) if page > pages and total else None,
         "csv_url": "/api/v1/audit.csv" + ("?" + urlencode(params) if params else ""),
         "filters": filters,
         "notice": notice,
         "actions": [
             (group, translate(lang, f"audit.group.{group}"),
              [(a, action_label(lang, a)) for a in actions])
             for group, actions in AUDIT_ACTIONS.items()
         ],
         # A hand-typed ?action= the list does not offer still shows as chosen.
         "other_action": action if action and action not in known else None,
         "gates": list(names.items()),
         "gate_names": names},
        user,
        status_code=422 if notice else 200,
    )
