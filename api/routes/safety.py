"""Fire alarm: open every gate and hold (fail-safe); only an admin ends it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminUser, ServicesDep, SessionDep, StaffUser
from api.routes.admin import audit
from api.schemas import Reason
from errors import ConflictError, InvalidInputError

router = APIRouter(prefix="/api/v1/safety", tags=["safety"])


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason = Field(min_length=2, max_length=500)


class SafetyStatus(BaseModel):
    fire_alarm: bool
    gates: dict[str, str]


def _status(services: ServicesDep) -> SafetyStatus:
    safety = services.safety
    if safety is None:
        raise InvalidInputError("no safety supervisor is configured")
    return SafetyStatus(
        fire_alarm=safety.fire_alarm_active,
        gates={gate_id: str(b.state) for gate_id, b in services.barriers.items()},
    )


@router.get("", response_model=SafetyStatus)
def safety_status(services: ServicesDep, _: StaffUser) -> SafetyStatus:
    return _status(services)


@router.post("/fire-alarm", response_model=SafetyStatus)
async def trigger_fire_alarm(
    body: ReasonIn, services: ServicesDep, session: SessionDep, user: StaffUser
) -> SafetyStatus:
    """A guard's panic button or a drill: every gate opens and holds."""
    _status(services)
    assert services.safety is not None
    audit(session, user, "safety.fire_alarm", "all gates", reason=body.reason)
    await services.safety.trigger_fire_alarm(f"{user.name}: {body.reason}")
    return _status(services)


@router.post("/fire-alarm/clear", response_model=SafetyStatus)
async def clear_fire_alarm(
    body: ReasonIn, services: ServicesDep, session: SessionDep, user: AdminUser
) -> SafetyStatus:
    """Ends the hold (refused with 409 while the fire panel's contact is still active, or
    when no alarm is active: the audit log must not show a clearing that cleared nothing)."""
    _status(services)
    assert services.safety is not None
    if not services.safety.fire_alarm_active:
        raise ConflictError("no fire alarm is active")
    await services.safety.clear_fire_alarm(user.name)
    audit(session, user, "safety.fire_alarm_cleared", "all gates", reason=body.reason)
    return _status(services)
