"""PIN and QR at a gate, and setting a resident's PIN."""

from __future__ import annotations

import asyncio
from datetime import datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminUser, CameraOrUser, ServicesDep, SessionDep, StaffUser
from api.params import BodyId, PathId
from api.routes.admin import audit, gates_told
from api.routes.frames import require_gates_camera
from api.schemas import FrameResult
from controllers.ports import OUTCOME_FAULT
from controllers.values import Verdict
from errors import InvalidInputError, NotFoundError, StoreUnavailableError
from models.db import outage_as_unavailable, transaction
from models.vehicles import VisitorPass
from services.container import Services
from services.credentials import check_pin, check_qr, clear_pin, qr_code, set_pin
from services.offline_credentials import OfflineCredentials
from wall_clock import utcnow

router = APIRouter(prefix="/api/v1", tags=["credentials"])


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pin: str = Field(min_length=4, max_length=8)


class PinCredential(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["pin"]
    resident_id: BodyId
    pin: str = Field(min_length=1, max_length=16)


class QrCredential(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["qr"]
    code: str = Field(min_length=1, max_length=128)


Credential = Annotated[PinCredential | QrCredential, Field(discriminator="kind")]


class QrOut(BaseModel):
    pass_id: int
    code: str


@router.put("/residents/{resident_id}/pin", status_code=204)
def put_pin(
    resident_id: PathId, body: PinIn, session: SessionDep, services: ServicesDep,
    user: AdminUser,
) -> None:
    """The PIN works offline from the offline loop's next wake: for a resident who declined
    face entry it is the way in, also during an outage that starts on their way home."""
    set_pin(session, resident_id, body.pin)
    audit(session, user, "resident.pin_set", f"resident:{resident_id}")
    gates_told(session, services)


@router.delete("/residents/{resident_id}/pin", status_code=204)
def delete_pin(
    resident_id: PathId, session: SessionDep, services: ServicesDep, user: AdminUser
) -> None:
    """A PIN the resident no longer wants, or one seen by someone else: the keypad stops
    accepting it at once, offline too from the offline loop's next wake."""
    if clear_pin(session, resident_id):
        audit(session, user, "resident.pin_cleared", f"resident:{resident_id}")
        gates_told(session, services)


@router.get("/passes/{pass_id}/qr", response_model=QrOut)
def pass_qr(pass_id: PathId, session: SessionDep, services: ServicesDep, _: StaffUser) -> QrOut:
    """The code to print or send to the visitor; a QR scanner at the gate posts it back."""
    visitor_pass = session.get(VisitorPass, pass_id)
    if visitor_pass is None:
        raise NotFoundError(f"pass {pass_id} not found")
    # Signed with this pass's own nonce: the code dies with the pass, even if its id is reused.
    code = qr_code(services.settings.signing_key(), pass_id, visitor_pass.qr_nonce)
    return QrOut(pass_id=pass_id, code=code)


@router.post(
    "/gates/{gate_id}/credentials",
    response_model=FrameResult,
    responses={
        403: {"description": "Another camera's key than the gate's push_camera.key_name "
                             "(its keypad or QR reader is the same device)"},
        422: {"description": "Not a pedestrian gate, or a malformed credential"},
    },
)
async def present_credential(
    gate_id: str, body: Credential, services: ServicesDep, caller: CameraOrUser
) -> FrameResult:
    services.runtime.gate(gate_id)
    gate = services.settings.gate(gate_id)
    require_gates_camera(gate_id, gate, caller)
    if gate is None or gate.kind != "pedestrian":
        raise InvalidInputError(f"{gate_id} is not a pedestrian gate")
    now = utcnow()
    counted_offline: OfflineCredentials | None = None
    try:
        if services.runtime.database_suspect():
            raise StoreUnavailableError("database unavailable (retrying shortly)")
        decision = await asyncio.to_thread(_check_online, services, body, now)
    except StoreUnavailableError:
        offline = services.offline_credentials
        if offline is None:
            raise
        services.runtime.mark_database_unavailable()
        decision = await asyncio.to_thread(
            _check_offline, offline, body, now, services.settings.community.zone_info()
        )
        counted_offline = offline
    # A pass use the offline snapshot counted, to give back if the visitor does not pass.
    used = decision.pass_id if counted_offline is not None and decision.count_pass_use else None
    try:
        result = await services.runtime.handle_decision(
            gate_id, decision, at=now, details={"credential": body.kind}
        )
    except Exception:
        # No answer: the passage could not be journalled (the journal's disk refused it),
        # and then the gate did not move. Not on a cancellation: it may have opened by then.
        if counted_offline is not None and used is not None:
            counted_offline.give_back(used)
        raise
    if counted_offline is not None and used is not None and (
        result.decision.verdict is not Verdict.ALLOW or result.barrier == OUTCOME_FAULT
    ):
        # The visitor did not pass on this use: held by the gate's hours, or the gate did
        # not open. A single-use pass must still open for them once it does.
        counted_offline.give_back(used)
    return FrameResult(
        passage_id=result.passage_id,
        journal_id=result.journal_id,
        gate_id=gate_id,
        plate=None,
        confidence=0.0,
        decision=result.decision.verdict.value,
        reason=result.decision.reason.value,
        barrier=result.barrier,
    )


def _check_online(services: Services, body: PinCredential | QrCredential, now: datetime) -> Any:
    with outage_as_unavailable(), transaction(services.sessions) as session:
        if isinstance(body, PinCredential):
            return check_pin(session, body.resident_id, body.pin, now)
        return check_qr(session, services.settings.signing_key(), body.code, now,
                        services.settings.community.zone_info())


def _check_offline(
    offline: OfflineCredentials, body: PinCredential | QrCredential, now: datetime,
    zone: tzinfo,
) -> Any:
    """The same checks from the offline snapshot: a resident who declined face entry is not
    the one left outside during an outage."""
    if isinstance(body, PinCredential):
        return offline.check_pin(body.resident_id, body.pin, now)
    return offline.check_qr(body.code, now, zone)
