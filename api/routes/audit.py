"""The audit log: search and CSV export (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api.deps import AdminUser, CommunityTz, SessionDep
from api.params import MAX_DB_INT, Moment, Offset
from errors import InvalidInputError
from services.audit_log import AuditQuery, audit_csv, audit_to_dict, search_audit

router = APIRouter(prefix="/api/v1", tags=["audit"])

CSV_LIMIT = 100_000


class AuditOut(BaseModel):
    id: int
    at: datetime
    username: str
    action: str
    target: str
    gate_id: str | None
    passage_id: int | None
    reason: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    limit: int
    offset: int


def _query(
    user: str | None, action: str | None, gate: str | None,
    since: datetime | None, until: datetime | None, passage: int | None,
) -> AuditQuery:
    try:
        return AuditQuery(user=user, action=action, gate_id=gate, since=since, until=until,
                          passage_id=passage)
    except ValueError as err:
        raise InvalidInputError(str(err)) from err


_SINCE = Query(None, description="Inclusive start, ISO 8601 with zone.")
_UNTIL = Query(None, description="Exclusive end, ISO 8601 with zone.")
_PASSAGE = Query(None, ge=1, le=MAX_DB_INT,
                 description="What staff did about this passage (resolved it, opened for it…).")


@router.get("/audit", response_model=AuditPage, summary="Search the audit log, newest first")
def list_audit(
    session: SessionDep,
    _: AdminUser,
    user: str | None = None,
    action: str | None = Query(None, description="'gate' matches gate.open, gate.close…"),
    gate: str | None = None,
    since: Moment | None = _SINCE,
    until: Moment | None = _UNTIL,
    passage: int | None = _PASSAGE,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> AuditPage:
    rows, total = search_audit(
        session, _query(user, action, gate, since, until, passage), limit=limit, offset=offset
    )
    return AuditPage(
        items=[AuditOut(**audit_to_dict(r)) for r in rows], total=total, limit=limit,
        offset=offset,
    )


@router.get(
    "/audit.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
    summary="The audit log as CSV (same filters)",
)
def export_audit(
    session: SessionDep,
    tz: CommunityTz,
    _: AdminUser,
    user: str | None = None,
    action: str | None = None,
    gate: str | None = None,
    since: Moment | None = _SINCE,
    until: Moment | None = _UNTIL,
    passage: int | None = _PASSAGE,
) -> Response:
    rows, _total = search_audit(
        session, _query(user, action, gate, since, until, passage), limit=CSV_LIMIT
    )
    return Response(
        audit_csv(rows, tz),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="parkgate-audit.csv"'},
    )
