"""Liveness for supervisors and load balancers."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from api.deps import ServicesDep
from api.schemas import CameraStatus, CityLink, ClockHealth, Health, StorageHealth
from services.container import Services

router = APIRouter(tags=["health"])


def database_answers(services: Services) -> bool:
    """Whether the database answers a query now (blocking: call it off the event loop)."""
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True


@router.get("/healthz", response_model=Health)
def healthz(services: ServicesDep) -> Health:
    database = database_answers(services)
    gates = {gate_id: str(b.state) for gate_id, b in services.barriers.items()}
    waiting = services.runtime.journal_backlog()
    actions_waiting = services.audit_backlog()
    cameras = {} if services.cameras is None else {
        gate_id: CameraStatus.model_validate(dataclasses.asdict(camera))
        for gate_id, camera in services.cameras.health().items()
    }
    ok = (database and not waiting and not actions_waiting
          and all(state != "fault" for state in gates.values())
          # An unwatched camera (up null) is not known to be out.
          and all(camera.up is not False for camera in cameras.values()))
    storage = None
    if services.disk is not None:
        storage = StorageHealth.model_validate(dataclasses.asdict(services.disk.status()))
        ok = ok and not storage.low and not storage.full
    clock = None
    if services.clock is not None:
        clock = ClockHealth.model_validate(dataclasses.asdict(services.clock.state()))
        ok = ok and clock.in_step
    city = None
    if services.city is not None:
        city = CityLink.model_validate(dataclasses.asdict(services.city.status))
    return Health(
        status="ok" if ok else "degraded", database=database, gates=gates,
        journal_waiting=waiting, audit_journal_waiting=actions_waiting, city_mqtt=city,
        storage=storage, clock=clock,
        cameras=cameras,
        screens={} if services.screens is None else services.screens.health(),
    )
