"""Recorded passages and their snapshots."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.deps import ServicesDep, SessionDep, StaffUser
from api.params import Moment, Offset, PathId
from api.schemas import PassageOut, PassagePage, plate_filter
from errors import InvalidInputError, NotFoundError
from models.access_store import passage_to_dict
from models.events import Passage
from services.passage_search import PassageQuery, search_passages
from vision.plate_grammar import PlateKind

router = APIRouter(prefix="/api/v1/passages", tags=["passages"])


@router.get("", response_model=PassagePage, summary="Passages, newest first")
def list_passages(
    session: SessionDep,
    _: StaffUser,
    gate: str | None = None,
    plate: str | None = Query(None, max_length=32, description="The plate read, exactly."),
    plate_contains: str | None = Query(
        None, max_length=16,
        description="Part of a plate, in the plate read, the plate it matched or a guard's "
        "correction (full-width and lower case fold).",
    ),
    similar_to: str | None = Query(
        None, max_length=16,
        description="A whole plate: passages whose plates are it or one misread away "
        "(look-alike characters, one character, the province), as the gate matches.",
    ),
    decision: Literal["allow", "deny", "review"] | None = None,
    plate_kind: PlateKind | None = Query(
        None,
        description="The read plate's family (trailer, double_row, new_energy_small, …). "
        "Passages with none (typed, unread, stored before 0018) never match.",
    ),
    since: Moment | None = Query(None, description="Inclusive start, ISO 8601 with zone."),
    until: Moment | None = Query(None, description="Exclusive end, ISO 8601 with zone."),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> PassagePage:
    if plate_contains and similar_to:
        raise InvalidInputError("give plate_contains or similar_to, not both")
    part = plate_filter(plate_contains, "plate_contains") or plate_filter(similar_to, "similar_to")
    query = PassageQuery(
        exact_plate=plate_filter(plate),
        plate=part,
        similar=similar_to is not None,
        gate_id=gate or None,
        decision=decision,
        plate_kind=plate_kind,
        since=since,
        until=until,
    )
    found = search_passages(session, query, limit=limit, offset=offset)
    return PassagePage(
        items=[PassageOut(**passage_to_dict(p)) for p in found.rows],
        total=found.total,
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
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "No snapshot"}},
)
def get_snapshot(
    passage_id: PathId, session: SessionDep, services: ServicesDep, _: StaffUser
) -> Response:
    passage = _passage(session, passage_id)
    if passage.snapshot_path is None:
        raise NotFoundError(f"passage {passage_id} has no snapshot")
    path = services.snapshots.path(passage.snapshot_path)
    try:
        # Read here, not while the response is sent: the low-space cleanup or retention may
        # delete it in between, and a file gone by then was a 500 (a FileResponse stats and
        # opens it only when sending).
        jpeg = path.read_bytes()
    except FileNotFoundError as err:
        raise NotFoundError("snapshot not found (deleted by retention or never taken)") from err
    # A picture of whoever was at the gate: not kept in a shared booth browser's cache.
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
