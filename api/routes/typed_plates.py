"""人工录入车牌: a guard types the plate of a car at a vehicle gate (services/typed_plates.py).

Like a gate action it needs no database: during an outage the car is decided from the offline
snapshot and journalled as a camera read would be, for staff the controller last knew active.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.console.security import require_csrf
from api.deps import ServicesDep, StaffUserDuringOutage
from api.schemas import Reason, plate_field
from services.typed_plates import enter_typed_plate

router = APIRouter(prefix="/api/v1/gates", tags=["gates"])


class TypedPlateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plate: str = Field(
        examples=["闽A12345"],
        description="The plate as the guard reads it off the car; dots, spaces, lower case "
        "and full-width characters are folded (GA 36-2018 grammar).",
    )
    reason: Reason = Field(max_length=500, examples=["摄像头故障"])

    _plate = field_validator("plate")(plate_field)


class TypedPlateOut(BaseModel):
    passage_id: int | None = Field(
        description="The passage; null while the database is down (see journal_id)."
    )
    journal_id: str | None = Field(
        None, description="During a database outage: the passage's id in the local journal."
    )
    gate_id: str
    plate: str
    matched_plate: str | None = Field(
        None, description="The registered plate the typed one was taken for when they differ "
        "(one character, as for a camera read): check it is this car.",
    )
    decision: Literal["allow", "deny", "review"]
    reason: str
    flags: list[str]
    barrier: str
    household_id: int | None
    household: str | None = Field(
        None, description="Whose car it was taken for (building and unit); null without a "
        "household. While the database is down, from the offline snapshot (null for a "
        "household it does not name).",
    )
    pass_id: int | None
    audit_id: int | None = Field(
        description="The audit entry; null while it waits in the audit journal, and for a "
        "repeat."
    )
    audit_journal_id: str | None = None
    repeat: bool = Field(
        False, description="The same plate was decided at this gate in the last 30 s (a "
        "double click, a retry, a second guard, the camera): this is that passage, and "
        "nothing was recorded, counted, audited or opened again.",
    )


@router.post(
    "/{gate_id}/typed-plate",
    response_model=TypedPlateOut,
    dependencies=[Depends(require_csrf)],
    summary="A guard types a car's plate (camera dark, plate unseen): decided, recorded and "
    "the barrier driven as for a camera read; audited",
    responses={
        404: {"description": "Unknown gate"},
        422: {"description": "Not a plate, a reason under 2 characters, or a pedestrian gate"},
        503: {"description": "The database is down and the account was not seen active, or "
                             "the passage could be kept neither in the database nor on disk"},
    },
)
async def typed_plate(
    gate_id: str, body: TypedPlateIn, services: ServicesDep, user: StaffUserDuringOutage
) -> TypedPlateOut:
    done = await enter_typed_plate(
        services, username=user.name, gate_id=gate_id, plate=body.plate, reason=body.reason
    )
    result, decision = done.passage, done.passage.decision
    return TypedPlateOut(
        passage_id=result.passage_id,
        journal_id=result.journal_id,
        gate_id=result.gate_id,
        plate=body.plate,
        matched_plate=decision.matched_plate,
        decision=decision.verdict.value,
        reason=decision.reason.value,
        flags=list(decision.flags),
        barrier=result.barrier,
        household_id=decision.household_id,
        household=done.household,
        pass_id=decision.pass_id,
        audit_id=done.audit_id,
        audit_journal_id=done.audit_journal_id,
        repeat=result.repeat,
    )
