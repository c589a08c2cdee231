"""The admin page for what a resident opens the pedestrian gate with: face and PIN.

Face data is sensitive personal information (PIPL): the page shows, per resident, whether
their separate consent is recorded (when, by whom, the form's note) and how many templates
are stored, and it is where consent is recorded, photos enrolled, face data deleted on
request and consent withdrawn. The actions go through the JSON API (api/routes/faces.py,
api/routes/credentials.py) from the page's script, so the rules and the audit entries are
the API's own; the page never sees a photo after it is sent, nor a PIN.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from api.console.admin import admin_page
from api.console.rendering import page_user, services_of
from models.events import AuditEntry, Passage
from models.faces import FaceTemplate
from models.people import Household, Resident, flat_order
from services.gate_snapshot_erasure import gate_snapshot_rows

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/console/admin", include_in_schema=False)

# Rows a page shows; a community has a few thousand residents, found by the search box.
FACES_PAGE = 200


@dataclass(frozen=True, slots=True)
class ResidentAccess:
    """One resident's row: who they are and what they can open the gate with."""

    id: int
    name: str
    household: str
    consent_at: datetime | None
    consent_by: str | None
    consent_note: str
    templates: int
    has_pin: bool
    gate_snapshots: int  # their own pedestrian-gate photos still stored (deletable on request)


def _matching(query: str) -> Any:
    """The id and flat of each resident whose name, building or unit contains every word of
    ``query``."""
    statement = select(Resident.id, Household.building, Household.unit).join_from(
        Resident, Household, Resident.household_id == Household.id)
    for word in query.split():
        # "3栋1201" typed as one word finds building 3栋, unit 1201 too.
        statement = statement.where(or_(*(
            column.icontains(word, autoescape=True)
            for column in (Resident.name, Household.building, Household.unit,
                           Household.building + Household.unit)
        )))
    return statement


def _consent_notes(session: Session, resident_ids: list[int]) -> dict[int, str]:
    """The note given with each resident's latest consent (where the signed form is kept)."""
    if not resident_ids:
        return {}
    targets = {f"resident:{rid}": rid for rid in resident_ids}
    rows = session.execute(
        select(AuditEntry.target, AuditEntry.reason)
        .where(AuditEntry.action == "face.consent", AuditEntry.target.in_(targets))
        .order_by(AuditEntry.id)
    )
    return {targets[target]: reason or "" for target, reason in rows}


def resident_access(session: Session, query: str) -> tuple[list[ResidentAccess], bool]:
    """The rows for ``query`` (at most FACES_PAGE) and whether more residents matched, by
    flat as the households table lists them (2栋 before 10栋, models/people.py flat_order).
    That order is not SQL's: the matches' ids and flats are read and sorted, then the page's
    residents loaded."""
    matched = sorted(session.execute(_matching(query)),
                     key=lambda row: (flat_order(row.building, row.unit), row.id))
    more = len(matched) > FACES_PAGE
    ids = [row.id for row in matched[:FACES_PAGE]]
    loaded = {resident.id: (resident, household) for resident, household in session.execute(
        select(Resident, Household).join(Household, Resident.household_id == Household.id)
        .where(Resident.id.in_(ids)))} if ids else {}
    # A resident deleted between the two reads is left out, as from a search made later.
    found = [loaded[rid] for rid in ids if rid in loaded]
    ids = [resident.id for resident, _ in found]
    counts: dict[int, int] = dict(session.execute(
        select(FaceTemplate.resident_id, func.count())
        .where(FaceTemplate.resident_id.in_(ids)).group_by(FaceTemplate.resident_id)
    ).all()) if ids else {}
    notes = _consent_notes(session, ids)
    photos = {rid: n for rid, n in session.execute(
        select(Passage.resident_id, func.count())
        .where(Passage.resident_id.in_(ids), *gate_snapshot_rows())
        .group_by(Passage.resident_id)
    ) if rid is not None} if ids else {}
    rows = [
        ResidentAccess(
            id=resident.id, name=resident.name,
            household=f"{household.building} {household.unit}",
            consent_at=resident.face_consent_at, consent_by=resident.face_consent_by,
            consent_note=notes.get(resident.id, "") if resident.face_consent_at else "",
            templates=counts.get(resident.id, 0), has_pin=resident.pin_hash is not None,
            gate_snapshots=photos.get(resident.id, 0),
        )
        for resident, household in found
    ]
    return rows, more


@router.get("/faces", response_class=HTMLResponse)
def faces_page(request: Request, q: str = Query("", max_length=64)) -> Response:
    user = page_user(request, admin=True)
    if isinstance(user, Response):
        return user
    services = services_of(request)
    with services.sessions() as session:
        rows, more = resident_access(session, q.strip())
    return admin_page(request, "admin/faces.html", {
        "rows": rows, "more": more, "query": q.strip(), "page_size": FACES_PAGE,
        # Without a face engine the page still sets PINs; it says why faces are missing.
        "faces_enabled": getattr(services, "faces", None) is not None,
    }, user)
