"""The FastAPI application, built around already-constructed services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from api.availability_fastpath import AvailabilityFastPath
from api.console import web as console
from api.console.security import require_csrf
from api.errors import install_error_handlers
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
    parking,
    passages,
    review,
    safety,
)
from services.container import Services


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="parkgate",
        version="0.1.0",
        summary="Smart parking and access control for a residential community",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(AvailabilityFastPath, parking=services.parking)
    # Every JSON route refuses a cookie-authenticated unsafe request without the CSRF header;
    # bearer tokens and camera keys are not sent by browsers on their own, so need no token.
    csrf = [Depends(require_csrf)]
    for module in (auth, admin, faces, credentials, frames, passages, availability, health,
                   gate_actions, review, alarms, audit, events, safety, parking):
        app.include_router(module.router, dependencies=csrf)
    app.include_router(console.router)  # console forms carry their token in the form
    return app
