"""The FastAPI application, built around already-constructed services."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from api.availability_fastpath import AvailabilityFastPath
from api.body_limit import BodyLimit
from api.cache_policy import NoStoreByDefault
from api.console import web as console
from api.console.security import require_csrf
from api.console.throttle import WINDOW_S, LoginThrottle
from api.errors import install_error_handlers
from api.head_requests import HeadAsGet
from api.public_cors import PublicCors
from api.routes import (
    admin,
    alarms,
    audit,
    auth,
    availability,
    credentials,
    events,
    faces,
    frames,
    gate_actions,
    health,
    household_move_out,
    metrics,
    parking,
    passages,
    personal_data,
    presence,
    reports,
    resident_import,
    resident_phone,
    review,
    safety,
    typed_plates,
    users,
)
from services.container import Services
from services.login_audit import recent_failures


def install_local_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from the assets shipped in the fastapi-offline wheel (no CDN).

    Swagger UI 5: FastAPI writes OpenAPI 3.1, which the 4.x of swagger-ui-bundle refused
    ("Unable to render this definition"), so every /docs step of the admin guide failed.
    """
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-static", StaticFiles(directory=assets), name="docs")
    app.add_api_route("/docs", local_docs, methods=["GET"], include_in_schema=False)


def local_docs(request: Request) -> HTMLResponse:
    """The /docs page. One function for every app, finding its app through the request: FastAPI
    (0.165) keeps each endpoint it registers in module-level caches (up to 4096 callables), so
    an endpoint closing over its app kept every app built in the process alive, with its
    services, database engine and face engines (~3 MB an app in the test suite)."""
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json",
        title="parkgate API",
        swagger_js_url="/docs-static/swagger-ui-bundle.js",
        swagger_css_url="/docs-static/swagger-ui.css",
        swagger_favicon_url="/docs-static/favicon.png",
    )


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Listening from before the start: passages an outage left in the journal are written
        # back during it, and they count when they reach the database.
        with services.bus.listening(services.metrics.on_event):
            await services.start()
            throttle = LoginThrottle()
            throttle.replay(await asyncio.to_thread(recent_failures, services, WINDOW_S))
            app.state.login_throttle = throttle
            try:
                yield
            finally:
                await services.stop()

    app = FastAPI(
        title="parkgate",
        version="0.1.0",
        summary="Smart parking and access control for a residential community",
        lifespan=lifespan,
        docs_url=None,  # served below from local files: a gate booth may have no internet
        redoc_url=None,
    )
    app.state.services = services
    # Log-outs (services/tokens.py), read back at start from the audit log by the services.
    app.state.ended_sessions = services.ended_sessions
    install_error_handlers(app)
    # Innermost: the availability fast path's answers set their own caching and skip it.
    app.add_middleware(NoStoreByDefault)
    app.add_middleware(BodyLimit)  # forms and JSON; the image uploads limit themselves
    app.add_middleware(AvailabilityFastPath, parking=services.parking)
    # Outside the fast path, so its answers get the headers too.
    app.add_middleware(PublicCors)
    # Added last, so outermost: everything inside, the fast path and CORS too, sees a GET.
    app.add_middleware(HeadAsGet)
    app.router.routes.extend(api_routes())
    install_local_docs(app)
    return app


@functools.cache
def api_routes() -> tuple[BaseRoute, ...]:
    """Every router of the API and the console, included once per process and shared by
    every app built in it.

    FastAPI (0.165) analyses an included router's endpoints (their signatures, a pydantic
    adapter per parameter) lazily, at the first request an app routes through it, and keeps
    that per inclusion: an app of its own paid ~0.6 s of CPU for it at its first requests, a
    restarted controller and each app of the test suite alike (a third of the suite's CPU).
    Nothing in it belongs to one app: endpoints reach their services through
    ``request.app``. What is given up is ``app.dependency_overrides``, which parkgate does
    not use (the routes are included outside any app)."""
    router = APIRouter()
    # Every JSON route refuses a cookie-authenticated unsafe request without the CSRF header;
    # bearer tokens and camera keys are not sent by browsers on their own, so need no token.
    csrf = [Depends(require_csrf)]
    for module in (auth, admin, faces, credentials, frames, passages, availability, health,
                   metrics, gate_actions, typed_plates, review, alarms, audit, events, safety,
                   parking, reports, personal_data, resident_import, household_move_out, users,
                   presence, resident_phone):
        router.include_router(module.router, dependencies=csrf)
    router.include_router(console.router)  # console forms carry their token in the form
    # An app's lifespan is create_app's own: a router's start-up or shut-down handlers would
    # not run, so there must be none.
    assert not router.on_startup and not router.on_shutdown, "routers must not have handlers"
    return tuple(router.routes)
