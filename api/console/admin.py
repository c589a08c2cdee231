"""Admin pages: users, households/residents/vehicles, passes, plate lists and the audit log.

Users are managed with plain forms here (there is no JSON API for them); the other tables
are edited by the page's script through the existing JSON API with the CSRF header.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from api.console.rendering import DISPLAY_TZ, page_user, render, services_of
from api.console.security import verify_csrf
from api.params import Day
from errors import ConflictError, InvalidInputError, NotFoundError
from models.db import transaction
from models.events import AuditEntry
from models.people import Household, Resident, User
from models.vehicles import PlateListEntry, Vehicle, VisitorPass
from services.audit_log import AuditQuery, audit_to_dict, search_audit
from services.container import Services
from services.users import create_user

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/admin", include_in_schema=False)

AUDIT_PAGE = 200


@router.get("", response_class=HTMLResponse)
def admin_home(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    return RedirectResponse("/console/admin/users", status_code=303)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, msg: str | None = None, error: str | None = None) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        users = list(session.scalars(select(User).order_by(User.username)))
    return render(request, "admin/users.html",
                  {"users": users, "msg": msg, "error": error}, user)


def _create_user(services: Services, actor: str, username: str, password: str, role: str) -> None:
    with transaction(services.sessions) as session:
        created = create_user(session, username, password, role)
        session.add(AuditEntry(username=actor, action="user.create",
                               target=f"user:{created.id}", details={"role": role,
                                                                     "username": username}))


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
        await asyncio.to_thread(
            _create_user, services_of(request), user.name, username.strip(), password, role
        )
    except (InvalidInputError, ConflictError) as err:
        query = urlencode({"error": str(err)})
        return RedirectResponse(f"/console/admin/users?{query}", status_code=303)
    logger.info("user %s created by %s as %s", username, user.name, role)
    return RedirectResponse("/console/admin/users?msg=users.created", status_code=303)


@router.post("/users/{user_id}/active")
async def set_user_active(
    request: Request,
    user_id: int,
    active: Annotated[bool, Form()],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    await verify_csrf(request, user.name, csrf_token)
    with transaction(services_of(request).sessions) as session:
        target = session.get(User, user_id)
        if target is None:
            raise NotFoundError(f"user {user_id} not found")
        if target.username == user.name and not active:
            return RedirectResponse("/console/admin/users?error=users.self", status_code=303)
        target.active = active
        session.add(AuditEntry(
            username=user.name, action="user.activate" if active else "user.deactivate",
            target=f"user:{user_id}", details={"username": target.username},
        ))
    return RedirectResponse("/console/admin/users?msg=msg.saved", status_code=303)


@router.get("/households", response_class=HTMLResponse)
def households_page(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        households = list(session.scalars(
            select(Household).order_by(Household.building, Household.unit)))
        residents = list(session.scalars(select(Resident).order_by(Resident.id)))
        vehicles = list(session.scalars(select(Vehicle).order_by(Vehicle.id)))
    labels = {h.id: f"{h.building} {h.unit}" for h in households}
    return render(request, "admin/households.html",
                  {"households": households, "residents": residents, "vehicles": vehicles,
                   "labels": labels}, user)


@router.get("/passes", response_class=HTMLResponse)
def passes_page(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        households = list(session.scalars(
            select(Household).order_by(Household.building, Household.unit)))
        passes = list(session.scalars(
            select(VisitorPass).order_by(VisitorPass.valid_from.desc()).limit(500)))
    labels = {h.id: f"{h.building} {h.unit}" for h in households}
    return render(request, "admin/passes.html",
                  {"passes": passes, "households": households, "labels": labels}, user)


@router.get("/lists", response_class=HTMLResponse)
def lists_page(request: Request) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    with services_of(request).sessions() as session:
        entries = list(session.scalars(select(PlateListEntry).order_by(PlateListEntry.id)))
    return render(request, "admin/lists.html", {"entries": entries}, user)


def _day_start(day: date | None, plus_days: int = 0) -> datetime | None:
    if day is None:
        return None
    return datetime.combine(day + timedelta(days=plus_days), time(0), tzinfo=DISPLAY_TZ)


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    user_name: str | None = Query(None, alias="user", max_length=64),
    action: str | None = Query(None, max_length=64),
    gate: str | None = Query(None, max_length=32),
    since: Day | None = None,
    until: Day | None = None,
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    # Dates are Beijing calendar days; "until" includes the whole day.
    query = AuditQuery(
        user=user_name or None, action=action or None, gate_id=gate or None,
        since=_day_start(since), until=_day_start(until, 1),
    )
    with services_of(request).sessions() as session:
        rows, total = search_audit(session, query, limit=AUDIT_PAGE)
    params: dict[str, Any] = {
        k: v for k, v in {
            "user": query.user, "action": query.action, "gate": query.gate_id,
            "since": query.since.isoformat() if query.since else None,
            "until": query.until.isoformat() if query.until else None,
        }.items() if v
    }
    return render(
        request, "admin/audit.html",
        {"rows": [audit_to_dict(r) for r in rows], "total": total,
         "csv_url": "/api/v1/audit.csv" + ("?" + urlencode(params) if params else ""),
         "filters": {"user": user_name or "", "action": action or "", "gate": gate or "",
                     "since": since.isoformat() if since else "",
                     "until": until.isoformat() if until else ""},
         "gates": [g.id for g in services_of(request).settings.community.gates]},
        user,
    )
