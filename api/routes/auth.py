"""Login: the OAuth2 password flow, answering a bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import ServicesDep, SessionDep
from api.schemas import Token
from errors import AuthenticationError
from services.users import authenticate

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=Token, summary="Log in with username and password")
def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    services: ServicesDep,
) -> Token:
    user = authenticate(session, form.username, form.password)
    if user is None:
        raise AuthenticationError("wrong username or password")
    ttl = services.settings.api.token_ttl_minutes * 60
    return Token(
        access_token=services.signer.issue(user.username, user.role),
        role=user.role,
        expires_in=ttl,
    )
