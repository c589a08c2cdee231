"""A resident's personal data as one JSON file (PIPL art. 45: access and copy), admin only."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import AdminUser, ServicesDep, SessionDep
from api.head_requests import headers_only
from api.params import Offset, PathId
from api.routes.admin import audit
from errors import NotFoundError
from services.personal_data import MAX_PASSAGES, ExportContext, personal_data
from wall_clock import utcnow

router = APIRouter(prefix="/api/v1/residents", tags=["admin"])


@router.get(
    "/{resident_id}/personal-data",
    response_class=Response,
    summary="What parkgate holds about one resident (PIPL), as a JSON file",
    responses={
        200: {"content": {"application/json": {}}, "description": "The document, as an attachment"}
    },
)
def export_personal_data(
    resident_id: PathId,
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    user: AdminUser,
    passage_limit: int = Query(
        MAX_PASSAGES,
        ge=1,
        le=MAX_PASSAGES,
        description="Passages in this document, newest first; `passages.more` says whether "
        "there are older ones, asked for with `passage_offset`.",
    ),
    passage_offset: Offset = 0,
) -> Response:
    """The resident's record, household, cars, face consent and template dates (never the
    embeddings), whether a PIN is set (never its hash), the household's visitor passes, the
    passages retention keeps whole with whether their snapshot is still stored, and the
    retention periods. Every export is audited (``resident.data_export``)."""
    settings = services.settings

    def snapshot_exists(relative: str) -> bool:
        try:
            services.snapshots.path(relative)
        except NotFoundError:
            return False
        return True

    now = utcnow()
    tz = settings.community.zone_info()
    ctx = ExportContext(
        tz=tz,
        gate_names={g.id: g.name or g.id for g in settings.community.gates},
        snapshot_days=settings.retention.snapshot_days,
        passage_days=settings.retention.passage_days,
        snapshot_exists=snapshot_exists,
        exported_by=user.name,
        now=now,
        passage_limit=passage_limit,
        passage_offset=passage_offset,
    )
    document = personal_data(session, resident_id, ctx)
    # By id and household only, as every resident entry: a person erased later must not
    # live on by name in a log kept whole.
    details: dict[str, Any] = {
        "household_id": document["household"]["id"],
        "passages": len(document["passages"]["items"]),
    }
    if passage_offset:
        details["passage_offset"] = passage_offset
    # A HEAD (answered as this GET, api/head_requests.py) gives out no document: no export.
    if not headers_only(request):
        audit(session, user, "resident.data_export", f"resident:{resident_id}", **details)
    day = now.astimezone(tz).date().isoformat()
    page = f"-from-{passage_offset}" if passage_offset else ""
    filename = f"resident-{resident_id}-personal-data-{day}{page}.json"
    body = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return Response(
        body.encode("utf-8"),
        media_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
