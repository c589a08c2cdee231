"""Login and log-out: the OAuth2 password flow answering a bearer token, and ending one."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.active_accounts import check_login, name_for_log
from api.console.security import security
from api.console.throttle import login_throttle
from api.deps import ServicesDep, ended_sessions, oauth2_scheme
from api.login_failures import login_failed
from api.schemas import Token
from errors import AuthenticationError, ConflictError, InvalidInputError
from services.availability_cache import retry_after_header
from services.login_audit import LOGIN, LOGOUT, audit_login
from services.session_ends import logout_details
from services.tokens import new_session_id, session_fingerprint

logger = logging.getLogger(__name__)

# As the console's login form and the users API (api/console/routes.py, api/schemas.py).
USERNAME_MAX = 64
PASSWORD_MAX = 256

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

# Also for an account not known now: which accounts this process remembers is not for a
# guesser to learn (api/active_accounts.py).
OUTAGE_REFUSAL = (
    "wrong username or password; the database is unavailable, and until it answers only an "
    "account active before the outage can log in, with the password it had then"
)


@router.post("/token", response_model=Token, summary="Log in with username and password")
async def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    services: ServicesDep,
) -> Token:
    """While the database is down, the password is checked against the account as the
    controller last knew it active (services/known_staff.py; the same throttle applies)."""
    if len(form.username) > USERNAME_MAX or len(form.password) > PASSWORD_MAX:
        # No account has a longer name or password (the console's form and the users API
        # take no more). Refused before the log, the throttle and the audit see it: a name as
        # long as the body limit (1 MB) was logged whole, a megabyte line per attempt
        # (throttled ones too), and held in the throttle's memory.
        raise InvalidInputError(
            f"username is at most {USERNAME_MAX} and password at most {PASSWORD_MAX} characters"
        )
    address = request.client.host if request.client else "?"
    throttle = login_throttle(request)
    wait = throttle.retry_after(address, form.username)
    if wait > 0:
        refusals = throttle.refused(address, form.username, wait)
        # The pause's first refusal; the rest of it at DEBUG (the pause's length is known).
        logger.log(logging.WARNING if refusals == 1 else logging.DEBUG,
                   "API login for %s from %s throttled, refused for %.0f s more (refusal %d "
                   "of this pause)",
                   name_for_log(request.app.state, form.username), address, wait, refusals)
        raise HTTPException(
            429,
            f"too many failed logins from {address}: "
            f"try again in {retry_after_header(wait)} s",
            headers={"Retry-After": retry_after_header(wait)},
        )
    # argon2 takes tens of milliseconds: in a thread, off the event loop.
    found = await asyncio.to_thread(check_login, request.app.state, services.sessions,
                                    form.username, form.password)
    if found.account is None:
        logger.info("API login failed for %s from %s", found.name_for_log(form.username), address)
        await login_failed(services, throttle, form.username, via="api", address=address,
                           database_down=found.database_down)
        raise AuthenticationError(
            OUTAGE_REFUSAL if found.database_down else "wrong username or password"
        )
    throttle.succeeded(address, form.username)
    if found.database_down:
        logger.info("API login during a database outage: %s (%s)",
                    found.account.username, found.account.role)
    # Each token is a session of its own, so that logging it out ends it and no other.
    session_id = new_session_id()
    await asyncio.to_thread(audit_login, services, LOGIN, found.account.username, via="api",
                            address=address, database_down=found.database_down,
                            role=found.account.role, session=session_fingerprint(session_id))
    ttl = services.settings.api.token_ttl_minutes * 60
    return Token(
        access_token=services.signer.issue(
            found.account.username, found.account.role, session_id=session_id,
            password_stamp=found.account.stamp,
        ),
        role=found.account.role,
        expires_in=ttl,
    )


@router.post(
    "/logout",
    status_code=204,
    summary="Log out: end the bearer token sent",
    responses={
        401: {"description": "No bearer token, or one that is not valid, has expired or "
                             "was logged out already."},
        409: {"description": "A token issued before tokens could be logged out: it works "
                             "until it expires (deactivating the account ends it at once)."},
    },
)
async def logout(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Response:
    """Ends the token in `Authorization: Bearer …` at once, and only that one: other tokens
    of the same account, and its console sessions, keep working. Every later request with it
    (a copy included) is answered 401, also after the controller restarts, until it would
    have expired anyway. No body. Audited as `auth.logout` (`via: api`), also during a
    database outage. Sent with a console session's token it ends that session.

    Tokens issued before log-out existed cannot be ended this way (409) and work until they
    expire."""
    if token is None:
        raise AuthenticationError(
            "send the token to end as 'Authorization: Bearer <token>' (no body); the console "
            "logs out with its own button"
        )
    claims = services.signer.verify(token)  # 401: not ours, or expired
    ended = ended_sessions(request.app.state)
    if ended.ended(claims):
        raise AuthenticationError("this token was logged out already")
    if claims.session_id is None:
        expires = datetime.fromtimestamp(claims.expires_at, UTC).isoformat(timespec="seconds")
        raise ConflictError(
            "this token was issued before tokens could be logged out and cannot be ended on "
            f"its own: it works until it expires at {expires}; deactivating the account "
            "ends it at once"
        )
    # Not checked active: a log-out only takes away, and a deactivated account's token is
    # refused everywhere already. An API token is never renewed, so it is refused until its
    # own expiry; a console session's token sent here may have a renewed copy, which expires
    # at most one console idle time-out from now.
    until = max(claims.expires_at, time.time() + security(request).signer.ttl_seconds)
    ended.end(claims.session_id, until)
    address = request.client.host if request.client else "?"
    logger.info("API logout: %s from %s", claims.username, address)
    kept = await asyncio.to_thread(audit_login, services, LOGOUT, claims.username, via="api",
                                   address=address,
                                   **logout_details(claims.session_id, until))
    if not kept:
        logger.warning("API log-out of %s ended in this process only: a restart accepts "
                       "copies of that token again until it expires", claims.username)
    return Response(status_code=204)
