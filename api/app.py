"""The FastAPI application, built around already-constructed services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.availability_fastpath import AvailabilityFastPath
from api.console import web as console
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
    for module in (auth, admin, faces, credentials, frames, passages, availability, health,
                   gate_actions, review, alarms, audit, events, safety, parking, console):
        app.include_router(module.router)
    return app
