"""Dependencies: services, a session per request, the caller and their role."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Header, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.active_accounts import account_active
from errors import AuthenticationError, PermissionDeniedError
from models.db import transaction
from services.container import Services
from services.tokens import EndedSessions

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_community_tz(services: ServicesDep) -> ZoneInfo:
    """The community's wall clock (``community.timezone``): report days and local times."""
    return services.settings.community.zone_info()


CommunityTz = Annotated[ZoneInfo, Depends(get_community_tz)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """One transaction per request: committed when the route returns, rolled back on error."""
    with transaction(services.sessions) as session:
        yield session


# scope="function": commit as soon as the route returns, before the response is sent. With the
# default (request) scope FastAPI >= 0.118 commits after sending, so a client could be told
# "created" for a write that then fails to commit, and a page reloaded at once could miss it.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: str  # admin | guard | camera
    # Of the password the session was logged in with (services.passwords.password_stamp).
    password_stamp: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def ended_sessions(app_state: Any) -> EndedSessions:
    """The sessions and API tokens logged out (services/tokens.py): the services' own
    (api/app.py), which a restart fills again from the audit log."""
    ended = getattr(app_state, "ended_sessions", None)
    if not isinstance(ended, EndedSessions):
        ended = app_state.ended_sessions = EndedSessions()
    return ended


def _from_token(services: Services, token: str | None, request: Request) -> Principal | None:
    if token is None:
        token = request.cookies.get("parkgate_session")
    if not token:
        return None
    claims = services.signer.verify(token)
    if ended_sessions(request.app.state).ended(claims):
        raise AuthenticationError("this session or token was logged out: log in again")
    return Principal(claims.username, claims.role, claims.password_stamp)


def get_current_user(
    request: Request, services: ServicesDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    return _active_user(request, services, token)


def _active_user(
    request: Request, services: Services, token: str | None, *, during_outage: bool = False
) -> Principal:
    principal = _from_token(services, token, request)
    if principal is None:
        raise AuthenticationError("not authenticated: log in or send a bearer token")
    _require_active(request, services, principal, during_outage=during_outage)
    return principal


def _require_active(
    request: Request, services: Services, principal: Principal, *, during_outage: bool = False
) -> None:
    """A deactivated account loses access at once, not when its token expires; so does a
    session logged in with a password since reset, or with a role since changed."""
    if not account_active(request.app.state, services.sessions, principal.name,
                          during_outage=during_outage, stamp=principal.password_stamp,
                          role=principal.role):
        raise AuthenticationError(f"account {principal.name!r} is deactivated or deleted, "
                                  "or its password was reset or its role changed: log in again")


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require_admin(user: CurrentUser) -> Principal:
    if not user.is_admin:
        raise PermissionDeniedError(f"this needs the admin role; {user.name} is a {user.role}")
    return user


AdminUser = Annotated[Principal, Depends(require_admin)]


def admin_from(request: Request, services: Services, token: str | None) -> Principal:
    """The admin a bearer token or console session belongs to, for a route that takes other
    credentials too (``/metrics`` and its scrape token)."""
    return require_admin(_active_user(request, services, token))


def require_staff(user: CurrentUser) -> Principal:
    if user.role not in ("admin", "guard"):
        raise PermissionDeniedError("this needs the guard or admin role")
    return user


StaffUser = Annotated[Principal, Depends(require_staff)]


def get_staff_during_outage(
    request: Request, services: ServicesDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Principal:
    """Staff, for what works while the database is down (the alarm list, the gates and their
    actions, the event stream): an account the controller last knew active is let in then
    (api/active_accounts.py)."""
    return require_staff(_active_user(request, services, token, during_outage=True))


StaffUserDuringOutage = Annotated[Principal, Depends(get_staff_during_outage)]


def _camera_with_key(services: Services, x_api_key: str) -> Principal:
    """The camera ``camera_api_keys`` names for this key; 401 for a key it does not hold."""
    for name, key in services.settings.camera_api_keys.items():
        if hmac.compare_digest(x_api_key.encode(), key.get_secret_value().encode()):
            return Principal(name, "camera")
    raise AuthenticationError("unknown camera API key")


def get_camera_or_user(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    x_api_key: Annotated[str | None, Header(description="A camera's API key.")] = None,
) -> Principal:
    """Cameras push frames with ``X-API-Key``; staff may push with their login."""
    if x_api_key is not None:
        return _camera_with_key(services, x_api_key)
    principal = _from_token(services, token, request)
    if principal is None:
        raise AuthenticationError("send a camera X-API-Key or a bearer token")
    if principal.role not in ("admin", "guard"):
        raise PermissionDeniedError("this needs a camera key, or the guard or admin role")
    _require_active(request, services, principal)
    return principal


CameraOrUser = Annotated[Principal, Depends(get_camera_or_user)]


def get_camera(
    services: ServicesDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    x_api_key: Annotated[str | None, Header(description="A camera's API key.")] = None,
) -> Principal:
    """A camera by its ``X-API-Key``, for what only the camera itself says (its heartbeat):
    a guard's login saying a camera is alive would hide an outage."""
    if x_api_key is not None:
        return _camera_with_key(services, x_api_key)
    if token is not None:
        raise PermissionDeniedError("only the camera itself sends this: use its X-API-Key")
    raise AuthenticationError("send the camera's X-API-Key (camera_api_keys)")


CameraOnly = Annotated[Principal, Depends(get_camera)]
