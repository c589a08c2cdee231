"""Guards drive barriers by hand: open, close, hold open, release — always with a reason.

Both routes need no database, so they answer during an outage too, for staff the controller
last knew active (api/active_accounts.py): the car at a closed barrier is exactly who needs a
guard then. The action's audit entry waits in the audit journal meanwhile."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.console.security import require_csrf
from api.deps import ServicesDep, StaffUserDuringOutage
from api.params import BodyId
from api.schemas import Reason
from services.gate_actions import gate_states, perform_gate_action

router = APIRouter(prefix="/api/v1/gates", tags=["gates"])


class GateActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["open", "close", "hold_open", "release"]
    reason: Reason = Field(min_length=2, max_length=500, examples=["访客无通行证，业主电话确认"])
    passage_id: BodyId | None = Field(
        None, description="The passage this action answers, if any: it must be at this "
        "gate; an open of a passage whose barrier did not open counts it again.",
    )
    passage_journal_id: str | None = Field(
        None, pattern=r"^[0-9a-f]{1,32}$",
        description="Instead of passage_id, a passage decided during a database outage, by "
        "the journal_id it was answered with (it has no id until written); the same rules.",
    )

    @model_validator(mode="after")
    def _one_passage(self) -> GateActionIn:
        if self.passage_id is not None and self.passage_journal_id is not None:
            raise ValueError("name a passage by passage_id or passage_journal_id, not both")
        return self

    @field_validator("reason")
    @classmethod
    def _stripped(cls, value: str) -> str:
        value = value.strip()
        if len(value) < 2:
            raise ValueError("reason needs at least 2 characters")
        return value


class GateActionOut(BaseModel):
    gate_id: str
    action: str
    state: str
    audit_id: int | None = Field(
        description="The audit entry; null while the database is down (see journal_id)."
    )
    journal_id: str | None = Field(
        None, description="During a database outage: the audit entry's id in the local "
        "audit journal, written to the audit log (once) when the database answers.",
    )
    admission: Literal["redone"] | None = Field(
        None, description="`redone`: the open named a passage of this gate whose barrier had "
        "not opened, and gave its admission back (presence, zone count, visitor pass use), "
        "once; null otherwise. During a database outage: the gates count the car again "
        "(anti-passback, a pass's uses, a household's spaces), and the passage and the zone "
        "count get it when the database answers.",
    )
    hold_changed: bool | None = Field(
        None, description="For hold_open and release: whether this action set or lifted the "
        "guard's hold (false: it was already so; a hold during a fire alarm is set and "
        "outlasts the alarm). Null for other actions or a driver that cannot tell.",
    )


class GateStateOut(BaseModel):
    id: str
    name: str
    kind: str
    direction: str
    zone: str | None
    state: str
    fault: str | None
    camera_up: bool | None = Field(
        None, description="False while the gate's camera is dark (camera_offline); null when "
        "no camera is watched there."
    )
    screen: list[str] | None = Field(
        None, description="What the gate's screen (车道屏) is meant to show now, line by line "
        "(empty: blank); null when the gate has no screen. The `screen` event of the event "
        "stream carries each change."
    )


@router.get("", response_model=list[GateStateOut], summary="Every gate and its barrier state")
def list_gates(services: ServicesDep, _: StaffUserDuringOutage) -> list[GateStateOut]:
    return [GateStateOut(**row) for row in gate_states(services)]


@router.post(
    "/{gate_id}/actions",
    response_model=GateActionOut,
    dependencies=[Depends(require_csrf)],
    summary="Drive a barrier by hand; the action and its reason are audited",
    responses={
        404: {"description": "Unknown gate or passage"},
        409: {"description": "Refused by the barrier (fire alarm, held open)"},
        503: {"description": "The barrier did not respond (an alarm was raised); or the "
                             "database is down and the account was not seen active"},
    },
)
async def gate_action(
    gate_id: str, body: GateActionIn, services: ServicesDep, user: StaffUserDuringOutage
) -> GateActionOut:
    result = await perform_gate_action(
        services, username=user.name, gate_id=gate_id, action=body.action,
        reason=body.reason, passage_id=body.passage_id,
        passage_journal_id=body.passage_journal_id,
    )
    return GateActionOut(
        gate_id=result.gate_id, action=result.action, state=result.state,
        audit_id=result.audit_id, journal_id=result.journal_id, admission=result.admission,
        hold_changed=result.hold_changed,
    )
