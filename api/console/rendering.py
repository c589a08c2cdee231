"""Rendering console pages: templates, the page's user, language and security headers."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.console.i18n import LANGS, Lang, code, js_texts, translator
from api.console.security import (
    CSRF_COOKIE,
    LANG_COOKIE,
    clear_session,
    csrf_for,
    make_nonce,
    security,
    session_principal,
    set_csrf_cookie,
    set_session,
)
from api.deps import Principal
from models.people import User
from services.container import Services

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
# The community is in China; times on the booth screen are Beijing time whatever the server's TZ.
DISPLAY_TZ = ZoneInfo("Asia/Shanghai")

# Everything the page loads comes from this origin: no CDN, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def local_time(value: datetime | str | None, fmt: str = "%m-%d %H:%M:%S") -> str:
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(DISPLAY_TZ).strftime(fmt)


_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["local_time"] = local_time
templates = Jinja2Templates(env=_env)


def current_lang(request: Request) -> Lang:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen  # type: ignore[return-value]
    return security(request).config.default_lang


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _active(services: Services, username: str) -> bool:
    """Deactivating a user ends their console session at the next page, not in 15 minutes."""
    from sqlalchemy import select

    with services.sessions() as session:
        return bool(session.scalar(select(User.active).where(User.username == username)))


def login_redirect(request: Request, *, expired: bool = False) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    suffix = "&expired=1" if expired else ""
    return RedirectResponse(f"/console/login?next={quote(target)}{suffix}", status_code=303)


def page_user(request: Request, *, admin: bool = False) -> Principal | Response:
    """The logged-in staff member, or the response to send instead (login, 403 page)."""
    principal = session_principal(request)
    had_cookie = "parkgate_session" in request.cookies
    if principal is None or principal.role not in ("admin", "guard"):
        return login_redirect(request, expired=had_cookie)
    if not _active(services_of(request), principal.name):
        # Drop the cookie too: the login page would otherwise send a still-signed session
        # straight back here, round and round.
        response = login_redirect(request)
        clear_session(request, response)
        return response
    if admin and not principal.is_admin:
        logger.info("guard %s refused admin page %s", principal.name, request.url.path)
        return render(request, "forbidden.html", {}, principal, status_code=403)
    return principal


def safe_next(target: str | None) -> str:
    """Only console paths: a login must not bounce the guard to another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    user: Principal | None,
    *,
    status_code: int = 200,
    refresh_session: bool = True,
) -> HTMLResponse:
    lang = current_lang(request)
    sec = security(request)
    cookie_nonce = request.cookies.get(CSRF_COOKIE)
    nonce = cookie_nonce or make_nonce()
    context = {
        "t": translator(lang),
        "code": lambda value: code(lang, value),
        "lang": lang,
        "user": user,
        "csrf": csrf_for(request, user.name if user else "", nonce=nonce),
        "idle_seconds": sec.config.idle_minutes * 60,
        "js_texts": json.dumps(js_texts(lang), ensure_ascii=False),
        "path": request.url.path,
        **context,
    }
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    if cookie_nonce is None:
        set_csrf_cookie(request, response, nonce)
    for header, value in SECURITY_HEADERS.items():
        response.headers[header] = value
    if user is not None and refresh_session:
        set_session(request, response, user.name, user.role)  # sliding idle time-out
    return response
