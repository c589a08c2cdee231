"""The review queue: passages a guard must decide, and their resolution."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.console.security import require_csrf
from api.deps import ServicesDep, SessionDep, StaffUser
from api.params import BodyId, Moment, PathId
from api.schemas import EntryLimit, Note, PassageOut, Reason, check_pass_window, plate_field
from errors import InvalidInputError
from models.access_store import passage_to_dict
from services.review import ReviewDecision, VisitorPassRequest, resolve_review, review_queue
from vision.plate_grammar import fold_typed_plate
from wall_clock import utcnow

router = APIRouter(prefix="/api/v1", tags=["review"])


class VisitorPassIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host_household_id: BodyId
    valid_from: Moment | None = Field(None, description="Defaults to now.")
    valid_to: Moment = Field(description="End of the visit, ISO 8601 with zone.")
    max_uses: EntryLimit | None = Field(None, description="Entries allowed; null: unlimited.")
    note: Note = Field("", max_length=500)

    @model_validator(mode="after")
    def _window(self) -> VisitorPassIn:
        check_pass_window(self.valid_from or utcnow(), self.valid_to)
        return self


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: Literal["allow_once", "visitor_pass", "deny"]
    reason: Reason = Field(min_length=2, max_length=500, examples=["业主电话确认，访客临时进入"])
    plate: str | None = Field(
        None, description="The plate as the guard reads it; defaults to the camera's read."
    )
    no_plate: bool = Field(
        False, description="The guard checked that the vehicle has no plate: the camera's read "
        "is not used (nothing is counted under it). Not with `plate` or a visitor pass.",
    )
    visitor_pass: VisitorPassIn | None = None

    @field_validator("plate")
    @classmethod
    def _plate(cls, value: str | None) -> str | None:
        # Blank (also a lone zero-width space pasted into the box): the camera's read.
        if value is None or not fold_typed_plate(value):
            return None
        return plate_field(value)

    @model_validator(mode="after")
    def _pass_matches(self) -> ResolveIn:
        if (self.resolution == "visitor_pass") != (self.visitor_pass is not None):
            raise ValueError("visitor_pass is required exactly when resolution is visitor_pass")
        return self


class ResolveOut(BaseModel):
    passage: PassageOut
    resolution: str
    barrier: str | None
    pass_id: int | None
    alarms: list[dict[str, Any]]


@router.get("/review", response_model=list[PassageOut], summary="Unresolved review passages")
def list_review(
    session: SessionDep,
    _: StaffUser,
    gate: str | None = None,
    limit: int = Query(50, ge=1, le=500),
) -> list[PassageOut]:
    return [PassageOut(**passage_to_dict(p)) for p in review_queue(session, limit, gate)]


@router.post(
    "/passages/{passage_id}/resolve",
    response_model=ResolveOut,
    dependencies=[Depends(require_csrf)],
    summary="Resolve a review passage: allow once, allow with a visitor pass, or deny",
    responses={
        404: {"description": "No such passage"},
        409: {"description": "Not a review passage, or already resolved"},
    },
)
async def resolve(
    passage_id: PathId, body: ResolveIn, services: ServicesDep, user: StaffUser
) -> ResolveOut:
    visitor = None
    if body.visitor_pass is not None:
        vp = body.visitor_pass
        visitor = VisitorPassRequest(
            host_household_id=vp.host_household_id,
            valid_from=vp.valid_from or utcnow(),
            valid_to=vp.valid_to,
            max_uses=vp.max_uses,
            note=vp.note,
        )
    try:
        decision = ReviewDecision(
            passage_id=passage_id, resolution=body.resolution, reason=body.reason,
            plate=body.plate, visitor=visitor, no_plate=body.no_plate,
        )
    except ValueError as err:
        raise InvalidInputError(str(err)) from err
    outcome = await resolve_review(services, user.name, decision)
    return ResolveOut(
        passage=PassageOut(**outcome.passage), resolution=outcome.resolution,
        barrier=outcome.barrier, pass_id=outcome.pass_id, alarms=outcome.alarms,
    )
