"""Recorded passages and their snapshots."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse
from sqlalchemy import func, select

from api.deps import ServicesDep, SessionDep, StaffUser
from api.params import Moment, Offset, PathId
from api.schemas import PassageOut, PassagePage, search_plate
from errors import NotFoundError
from models.access_store import passage_to_dict
from models.events import Passage

router = APIRouter(prefix="/api/v1/passages", tags=["passages"])


@router.get("", response_model=PassagePage, summary="Passages, newest first")
def list_passages(
    session: SessionDep,
    _: StaffUser,
    gate: str | None = None,
    plate: str | None = None,
    decision: Literal["allow", "deny", "review"] | None = None,
    since: Moment | None = Query(None, description="Inclusive start, ISO 8601 with zone."),
    until: Moment | None = Query(None, description="Exclusive end, ISO 8601 with zone."),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> PassagePage:
    query = select(Passage)
    if gate:
        query = query.where(Passage.gate_id == gate)
    if plate:
        query = query.where(Passage.plate == search_plate(plate))
    if decision:
        query = query.where(Passage.decision == decision)
    if since:
        query = query.where(Passage.at >= since)
    if until:
        query = query.where(Passage.at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Passage.at.desc(), Passage.id.desc()).limit(limit).offset(offset)
    )
    return PassagePage(
        items=[PassageOut(**passage_to_dict(p)) for p in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def _passage(session: SessionDep, passage_id: int) -> Passage:
    passage = session.get(Passage, passage_id)
    if passage is None:
        raise NotFoundError(f"passage {passage_id} not found")
    return passage


@router.get("/{passage_id}", response_model=PassageOut)
def get_passage(passage_id: PathId, session: SessionDep, _: StaffUser) -> PassageOut:
    return PassageOut(**passage_to_dict(_passage(session, passage_id)))


@router.get(
    "/{passage_id}/snapshot",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "No snapshot"}},
)
def get_snapshot(
    passage_id: PathId, session: SessionDep, services: ServicesDep, _: StaffUser
) -> FileResponse:
    passage = _passage(session, passage_id)
    if passage.snapshot_path is None:
        raise NotFoundError(f"passage {passage_id} has no snapshot")
    path = services.snapshots.path(passage.snapshot_path)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private"})
