"""Console sessions and CSRF protection.

The session cookie carries the same signed token the API accepts as a bearer token (so the
existing JSON routes and snapshot URLs work from the console), but issued with the console's
idle time-out and renewed while the guard is active: a booth screen left alone logs out.

CSRF uses a signed double submit: a random nonce lives in its own HttpOnly cookie and the
page carries ``HMAC(key, nonce | username)``. A cross-site page can make the browser send
the cookies but can neither read the page nor compute the token. Callers authenticated by a
bearer token are not riding a cookie and need no token; any other ``Authorization`` header
is no exemption (below, ``require_csrf``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time

from fastapi import Request, Response

from api.active_accounts import last_seen_active
from api.console.config import ConsoleConfig
from api.deps import Principal, ended_sessions, oauth2_scheme
from errors import AuthenticationError, PermissionDeniedError
from services.container import Services
from services.tokens import TokenClaims, TokenSigner, new_session_id, same_secret

logger = logging.getLogger(__name__)

SESSION_COOKIE = "parkgate_session"  # read by api.deps as well
CSRF_COOKIE = "parkgate_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LANG_COOKIE = "parkgate_lang"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ConsoleSecurity:
    def __init__(self, key: str, config: ConsoleConfig) -> None:
        self._key = key.encode()
        self.config = config
        self.signer = TokenSigner(key, config.idle_minutes * 60)

    def csrf_token(self, nonce: str, username: str) -> str:
        message = f"csrf|{nonce}|{username}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def csrf_ok(self, nonce: str | None, username: str, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return same_secret(token, self.csrf_token(nonce, username))


def console_config(services: Services, request: Request) -> ConsoleConfig:
    override = getattr(request.app.state, "console_config", None)
    if isinstance(override, ConsoleConfig):
        return override
    configured = getattr(services.settings, "console", None)
    if isinstance(configured, ConsoleConfig):
        return configured
    if configured is not None:  # a settings sub-model with the same fields
        return ConsoleConfig.model_validate(configured, from_attributes=True)
    return ConsoleConfig()


def security(request: Request) -> ConsoleSecurity:
    """One per app, built on first use (reading the signing key touches data_dir)."""
    state = request.app.state
    services: Services = state.services
    config = console_config(services, request)
    current: ConsoleSecurity | None = getattr(state, "console_security", None)
    if current is None or current.config != config:
        current = ConsoleSecurity(services.settings.signing_key(), config)
        state.console_security = current
    return current


def _session_claims(request: Request) -> TokenClaims | None:
    """The claims of the request's session cookie; None without one, for a token that is
    not valid, and for a session that was logged out."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        claims = security(request).signer.verify(token)
    except AuthenticationError:
        return None
    return None if ended_sessions(request.app.state).ended(claims) else claims


def session_principal(request: Request) -> Principal | None:
    claims = _session_claims(request)
    return None if claims is None else Principal(claims.username, claims.role,
                                                 claims.password_stamp)


def cookie_secure(request: Request) -> bool:
    return _secure(request, security(request).config)


def _secure(request: Request, config: ConsoleConfig) -> bool:
    if config.cookie_secure == "auto":
        return request.url.scheme == "https"
    return config.cookie_secure == "always"


def set_session(
    request: Request, response: Response, username: str, role: str, *, new: bool = False,
    session_id: str | None = None, password_stamp: str | None = None,
) -> None:
    """Issues the session cookie: a new session at login (``new``: never one carried over
    from before it; ``session_id``: the id its login's audit entry names), otherwise the
    request's own session renewed, under its id."""
    sec = security(request)
    current = None if new else _session_claims(request)
    if session_id is None:
        session_id = (
            current.session_id
            if current is not None and current.username == username and current.session_id
            else new_session_id()
        )
    if password_stamp is None and current is not None and current.username == username:
        password_stamp = current.password_stamp  # a renewal keeps what it was logged in with
    if password_stamp is None and not new:
        password_stamp = _stamp_for_older_session(request, username)
    response.set_cookie(
        SESSION_COOKIE,
        sec.signer.issue(username, role, session_id=session_id, password_stamp=password_stamp),
        max_age=sec.config.idle_minutes * 60,
        httponly=True,
        secure=_secure(request, sec.config),
        samesite=sec.config.same_site,
        path="/",
    )


def _stamp_for_older_session(request: Request, username: str) -> str | None:
    """The stamp a session an older parkgate issued (no password stamp; kept across an upgrade)
    takes at its renewal: else it was renewed stamp-less for as long as the guard kept using
    it, and resetting that guard's password never ended it. Given only while such a session is
    still valid (api.active_accounts: the account's sessions generation still 0), so stamping
    it changes nothing until the password is reset or the account deactivated."""
    known = last_seen_active(request.app.state).get(username)
    if known is None or known.sessions_generation != 0:
        return None
    return known.stamp


def make_nonce() -> str:
    return secrets.token_urlsafe(24)


def set_csrf_cookie(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        CSRF_COOKIE, nonce, httponly=True, secure=_secure(request, security(request).config),
        samesite="strict", path="/",
    )


def new_csrf_nonce(request: Request, response: Response) -> str:
    """A fresh nonce (at login and logout, so a planted one does not survive them)."""
    nonce = make_nonce()
    set_csrf_cookie(request, response, nonce)
    return nonce


def end_session(request: Request) -> tuple[str, float] | None:
    """Logs the request's session out server-side: every token it was given, also copies of
    the cookie elsewhere, is refused from now on (services/tokens.py, EndedSessions).
    Returns the session's id and until when it must be refused, for the log-out's audit
    entry, which is what a restart reads it back from (services/session_ends.py)."""
    claims = _session_claims(request)
    if claims is None or claims.session_id is None:
        return None
    # The last token issued for it expires at most one idle time-out from now.
    until = time.time() + security(request).signer.ttl_seconds
    ended_sessions(request.app.state).end(claims.session_id, until)
    return claims.session_id, until


def clear_session(request: Request, response: Response) -> None:
    secure = _secure(request, security(request).config)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, httponly=True)


def csrf_for(request: Request, username: str, nonce: str | None = None) -> str:
    nonce = nonce or request.cookies.get(CSRF_COOKIE) or ""
    return security(request).csrf_token(nonce, username) if nonce else ""


def check_csrf(request: Request, username: str, form_token: str | None = None) -> None:
    """Raises 403 unless the request carries the token that matches its nonce cookie."""
    token = request.headers.get(CSRF_HEADER) or form_token
    if not security(request).csrf_ok(request.cookies.get(CSRF_COOKIE), username, token):
        logger.warning("CSRF check failed on %s %s", request.method, request.url.path)
        raise PermissionDeniedError(
            "missing or wrong CSRF token: reload the console page and try again"
        )


async def verify_csrf(request: Request, username: str, form_token: str | None = None) -> None:
    check_csrf(request, username, form_token)


async def require_csrf(request: Request) -> None:
    """Dependency for unsafe JSON routes: a cookie-authenticated browser must send the token."""
    if request.method not in _UNSAFE:
        return
    # Exempt only where the auth dependencies take the bearer token and never look at the
    # cookie (api.deps, the same parsing). Any Authorization header used to do: a browser
    # adds ``Basic`` by itself to a cross-site request once its user has logged in to a
    # proxy in front of parkgate, and the cookie then authenticated it without a token.
    if await oauth2_scheme(request):
        return
    if not request.cookies.get(SESSION_COOKIE):
        return  # not logged in by cookie: the route's auth dependency answers 401
    principal = session_principal(request)
    username = principal.name if principal is not None else ""
    await verify_csrf(request, username)
