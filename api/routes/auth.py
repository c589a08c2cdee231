"""Login: the OAuth2 password flow, answering a bearer token."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.active_accounts import check_login
from api.console.throttle import login_throttle
from api.deps import ServicesDep
from api.login_failures import login_failed
from api.schemas import Token
from errors import AuthenticationError
from services.availability_cache import retry_after_header
from services.login_audit import LOGIN, audit_login

logger = logging.getLogger(__name__)

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
    address = request.client.host if request.client else "?"
    throttle = login_throttle(request)
    wait = throttle.retry_after(address, form.username)
    if wait > 0:
        logger.warning("API login for %r from %s throttled", form.username, address)
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
        logger.info("API login failed for %r from %s", form.username, address)
        await login_failed(services, throttle, form.username, via="api", address=address,
                           database_down=found.database_down)
        raise AuthenticationError(
            OUTAGE_REFUSAL if found.database_down else "wrong username or password"
        )
    throttle.succeeded(address, form.username)
    if found.database_down:
        logger.info("API login during a database outage: %s (%s)",
                    found.account.username, found.account.role)
    await asyncio.to_thread(audit_login, services, LOGIN, found.account.username, via="api",
                            address=address, database_down=found.database_down,
                            role=found.account.role)
    ttl = services.settings.api.token_ttl_minutes * 60
    return Token(
        access_token=services.signer.issue(found.account.username, found.account.role),
        role=found.account.role,
        expires_in=ttl,
    )
