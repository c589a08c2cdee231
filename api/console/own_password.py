"""修改密码: any staff member (guard or admin) changes their own password, without an admin:
a guard whose password a colleague saw must not wait for one (the 用户 page's 重设密码 is for
someone else's account).

The current password is asked for, and a wrong one counts as a failed login in the login
throttle (api/console/throttle.py) and the audit log: a session left open at the booth must
not become unlimited guesses at the password. The new one follows create-user's rules. Every
other session and token of the account ends at once (the password stamp they carry no longer
matches: api/active_accounts.py); the session that changed it gets a cookie with the new
stamp and stays logged in.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from api.active_accounts import last_seen_active
from api.console.error_texts import explain_message
from api.console.i18n import translate
from api.console.rendering import current_lang, page_user, render, services_of
from api.console.routes import wait_text
from api.console.security import set_session, verify_csrf
from api.console.throttle import login_throttle
from api.deps import Principal
from api.login_failures import login_failed
from errors import InvalidInputError
from models.db import transaction
from models.events import AuditEntry
from models.people import User
from services.container import Services
from services.known_staff import KnownAccount
from services.users import change_own_password

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

PAGE = "/console/password"


def _page(
    request: Request,
    user: Principal,
    *,
    error: str | None = None,
    detail: str | None = None,
    done: bool = False,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "password.html",
        {"error_text": error, "error_detail": detail, "done": done},
        user,
        status_code=status_code,
    )


@router.get(PAGE, response_class=HTMLResponse)
def password_page(request: Request, done: bool = False) -> Response:
    user = page_user(request)
    if isinstance(user, Response):
        return user
    return _page(request, user, done=done)


def _change(services: Services, username: str, current: str, new: str) -> KnownAccount | None:
    """The account with its new hash; None: ``current`` is not its password."""
    with transaction(services.sessions) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:  # page_user found it active a moment ago
            return None
        if not change_own_password(session, user, current, new):
            return None
        # Whose password changed, by the account itself; never the password, nor its hash.
        session.add(
            AuditEntry(
                username=username,
                action="user.password_change",
                target=f"user:{user.id}",
                details={"username": username},
            )
        )
        return KnownAccount.of(user)


@router.post(PAGE)
async def change_password(
    request: Request,
    current_password: Annotated[str, Form(max_length=256)],
    password: Annotated[str, Form(max_length=256)],
    password_again: Annotated[str, Form(max_length=256)],
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    user = page_user(request)
    if isinstance(user, Response):
        return user
    await verify_csrf(request, user.name, csrf_token)
    lang = current_lang(request)
    address = request.client.host if request.client else "?"
    throttle = login_throttle(request)
    wait = throttle.retry_after(address, user.name)
    if wait > 0:
        refusals = throttle.refused(address, user.name, wait)
        logger.log(logging.WARNING if refusals == 1 else logging.DEBUG,
                   "password change of %s from %s throttled, refused for %.0f s more "
                   "(refusal %d of this pause)", user.name, address, wait, refusals)
        seconds = math.ceil(wait)
        response = _page(
            request,
            user,
            status_code=429,
            error=translate(lang, "password.throttled", wait=wait_text(request, seconds)),
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    if password != password_again:
        return _page(
            request, user, status_code=400, error=translate(lang, "users.password_mismatch")
        )
    services = services_of(request)
    try:
        account = await asyncio.to_thread(_change, services, user.name, current_password, password)
    except InvalidInputError as err:
        return _page(
            request, user, status_code=400, error=explain_message(lang, str(err)), detail=str(err)
        )
    if account is None:
        logger.info("password change of %s from %s: wrong current password", user.name, address)
        await login_failed(
            services, throttle, user.name, via="console", address=address, database_down=False
        )
        return _page(request, user, status_code=400, error=translate(lang, "password.wrong"))
    throttle.succeeded(address, user.name)
    # The staff file for logins during a database outage gets the new hash now, as a reset
    # does: the old password must not open the booth in an outage that starts soon.
    last_seen_active(request.app.state).remember(account)
    logger.info("%s changed their own password", user.name)
    response = RedirectResponse(f"{PAGE}?done=1", status_code=303)
    # This session stays: the same session, its stamp now the new password's.
    set_session(
        request,
        response,
        user.name,
        user.role,
        password_stamp=account.stamp,
    )
    return response
