"""搬离 on 住户与车辆 (admin only): a household's 「搬离」 shows what goes, then removes it.

The confirmation lists exactly what the move-out removes (services/household_move_out.py):
residents by name with their face templates and PINs, cars by plate and which are parked
inside, the visitor passes the flat issued, the allow-list entries of its plates; its
block-list entries are listed with a box to tick, unticked. The configured spaces assigned to
the flat or its residents are named with the configuration line to change (before and
after). 确认搬离 sends back the list's fingerprint, so what is removed is what the admin
read: if the flat changed meanwhile the page shows the list again as it is now, and nothing
was removed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse

from api.console.admin import admin_page
from api.console.i18n import translate
from api.console.rendering import current_lang, page_user, services_of
from api.console.security import verify_csrf
from api.deps import Principal
from api.params import PathId
from api.routes.household_move_out import (
    MAX_TICKED,
    forget_faces,
    spaces_left,
    told_even_if_lost,
)
from errors import NotFoundError
from models.db import empty_write_ahead_log, transaction
from services.container import Services
from services.household_move_out import (
    MoveOutChangedError,
    MoveOutPlan,
    NotTheHouseholdsBlocksError,
    move_out,
    plan_move_out,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/admin/households", include_in_schema=False)


def _plan(services: Services, household_id: int) -> MoveOutPlan | None:
    try:
        with services.sessions() as session:
            return plan_move_out(session, household_id)
    except NotFoundError:
        return None


def _page(request: Request, user: Principal, plan: MoveOutPlan, **context: Any) -> Response:
    # The configured spaces of the flat stay assigned to its id: said before and after.
    spaces = spaces_left(services_of(request), plan)
    return admin_page(request, "admin/move_out.html",
                      {"plan": plan, "done": False, "changed": False, "problem": None,
                       "removed_blocks": (), "spaces": spaces, **context}, user)


def _gone(request: Request, user: Principal, household_id: int) -> Response:
    """An unknown flat (or one moved out already: a second click, another admin): 404."""
    text = translate(current_lang(request), "mo.gone", id=household_id)
    response = admin_page(request, "admin/move_out.html", {"plan": None, "gone": text}, user)
    response.status_code = 404
    return response


@router.get("/{household_id}/move-out", response_class=HTMLResponse)
def move_out_page(request: Request, household_id: PathId) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    plan = _plan(services_of(request), household_id)
    if plan is None:
        return _gone(request, user, household_id)
    return _page(request, user, plan)


def _move_out(
    services: Services, household_id: int, operator: str, expected: str, blocks: list[int]
) -> MoveOutPlan:
    with told_even_if_lost(services), transaction(services.sessions) as session:
        return move_out(session, household_id, operator=operator, expected=expected,
                        remove_blocks=blocks)


@router.post("/{household_id}/move-out", response_class=HTMLResponse)
async def confirm_move_out(
    request: Request,
    household_id: PathId,
    expected: Annotated[str, Form(max_length=64)],
    remove_block: Annotated[list[int] | None, Form(max_length=MAX_TICKED)] = None,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    await verify_csrf(request, user.name, csrf_token)
    services = services_of(request)
    ticked = sorted(set(remove_block or ()))
    try:
        plan = await asyncio.to_thread(
            _move_out, services, household_id, user.name, expected, ticked)
    except NotFoundError:
        return _gone(request, user, household_id)
    except NotTheHouseholdsBlocksError as err:  # a forged form: the page ticks only the family's
        fresh = await asyncio.to_thread(_plan, services, household_id)
        if fresh is None:
            return _gone(request, user, household_id)
        lang = current_lang(request)
        ids = translate(lang, "pass.day_sep").join(f"#{i}" for i in err.unknown)
        response = _page(request, user, fresh,
                         problem=translate(lang, "mo.not_theirs", ids=ids))
        response.status_code = 422
        return response
    except MoveOutChangedError:
        fresh = await asyncio.to_thread(_plan, services, household_id)
        if fresh is None:
            return _gone(request, user, household_id)
        response = _page(request, user, fresh, changed=True)
        response.status_code = 409
        return response
    # Committed: as the API does, the offline snapshot at once and the faces from the matcher.
    services.access_changed()
    forget_faces(services, plan)
    await asyncio.to_thread(empty_write_ahead_log, services.engine)  # as the API does
    logger.info("household %s (%s) moved out by %s on the console", household_id,
                plan.label, user.name)
    return _page(request, user, plan, done=True, removed_blocks=frozenset(ticked))
