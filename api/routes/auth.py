"""Login: the OAuth2 password flow, answering a bearer token."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.console.throttle import login_throttle
from api.deps import ServicesDep, SessionDep
from api.schemas import Token
from errors import AuthenticationError
from services.availability_cache import retry_after_header
from services.users import authenticate

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=Token, summary="Log in with username and password")
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    services: ServicesDep,
) -> Token:
    address = request.client.host if request.client else "?"
    throttle = login_throttle(request)
    wait = throttle.retry_after(address, form.username)
    if wait > 0:
        logger.warning("API login for %r from %s throttled", form.username, address)
        raise HTTPException(
            429,
            f"too many failed logins for this user from {address}: "
            f"try again in {retry_after_header(wait)} s",
            headers={"Retry-After": retry_after_header(wait)},
        )
    user = authenticate(session, form.username, form.password)
    if user is None:
        throttle.failed(address, form.username)
        logger.info("API login failed for %r from %s", form.username, address)
        raise AuthenticationError("wrong username or password")
    throttle.succeeded(address, form.username)
    ttl = services.settings.api.token_ttl_minutes * 60
    return Token(
        access_token=services.signer.issue(user.username, user.role),
        role=user.role,
        expires_in=ttl,
    )
