"""What parkgate holds about one resident, as one document for them (PIPL art. 45).

A resident may ask the property office what is stored about them and for a copy. The export
says so in facts a person can read: their record, their household and its cars, their face
consent and when each face template was enrolled (never the embeddings: they are the
biometric itself, and useless to the person), that a PIN is set and since when (never its
hash), the visitor passes their household hosts, the passages recorded for them or their
household's cars that retention still keeps whole, and how long all this is kept.

What it leaves out on purpose: snapshot images (they show whoever else was at the gate; the
document says which passages still have one and until when, and an admin can hand over a
checked image from the passage's snapshot link), the other members of the household (their
own data), and passages already anonymised (no longer anyone's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from errors import NotFoundError
from models.events import AuditEntry, Passage
from models.faces import FaceTemplate
from models.people import Household, Resident
from models.vehicles import PlateListEntry, Presence, Vehicle, VisitorPass
from services.gate_snapshot_erasure import DELETED_ON_REQUEST

FORMAT = "parkgate.personal-data/1"
# Passages in one document: a daily commuter's year is ~700 and a three-car household's
# ~2,200; beyond this the document says how many there are and the next page is asked for
# with an offset (about 2.5 MB of JSON per 10,000).
MAX_PASSAGES = 10_000

# Said in the document itself, for the person reading it (Chinese: it is handed to them).
NOT_INCLUDED = (
    "人脸：只列出授权情况和每条人脸数据的录入时间；人脸特征值本身不导出（它是生物识别信息，"
    "不能还原成照片）。系统从不保存录入时的照片。",
    "通行密码：只说明是否已设置及设置时间；系统只存不可还原的摘要，密码本身谁也看不到。",
    "抓拍照片：只说明每次通行是否还有抓拍、拍摄时间和到期删除时间，不附照片（照片里可能有"
    "其他人）。需要某张照片时，请物业核对后单独提供。",
    "同住户的其他成员的信息不在本文件中（那是他们本人的个人信息）。",
    "超过保存期限的通行记录已删除车牌和车主，不再属于任何人，因此不在本文件中。",
)


@dataclass(frozen=True, slots=True)
class ExportContext:
    """What the export needs from the installation, besides the database."""

    tz: ZoneInfo
    gate_names: dict[str, str]
    snapshot_days: int
    passage_days: int
    snapshot_exists: Callable[[str], bool]
    exported_by: str
    now: datetime
    passage_limit: int = MAX_PASSAGES
    passage_offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.passage_limit <= MAX_PASSAGES:
            raise ValueError(f"passage_limit must be 1..{MAX_PASSAGES}, not {self.passage_limit}")
        if self.passage_offset < 0:
            raise ValueError(f"passage_offset must be >= 0, not {self.passage_offset}")
        if self.now.tzinfo is None:
            raise ValueError("now needs a time zone")

    def local(self, moment: datetime | None) -> str | None:
        """A stored time as the community's wall clock, with its offset (+08:00)."""
        return None if moment is None else moment.astimezone(self.tz).isoformat()


def personal_data(session: Session, resident_id: int, ctx: ExportContext) -> dict[str, Any]:
    """The document for ``resident_id``; NotFoundError when there is no such resident."""
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFoundError(f"resident {resident_id} not found")
    household = session.get(Household, resident.household_id)
    if household is None:  # the foreign key cascades: only a half-deleted row gets here
        raise NotFoundError(f"resident {resident_id} has no household")
    vehicles = list(
        session.scalars(
            select(Vehicle).where(Vehicle.household_id == household.id).order_by(Vehicle.id)
        )
    )
    history = _history(session, resident)
    return {
        "format": FORMAT,
        "exported_at": ctx.local(ctx.now),
        "exported_by": ctx.exported_by,
        "timezone": str(ctx.tz),
        "resident": {
            "id": resident.id,
            "name": resident.name,
            "phone": resident.phone,
            "household_id": resident.household_id,
            "registered_at": ctx.local(resident.created_at),
        },
        "household": {
            "id": household.id,
            "building": household.building,
            "unit": household.unit,
            "spaces": household.spaces,
            "note": household.note,
            "registered_at": ctx.local(household.created_at),
        },
        "vehicles": [
            {
                "id": v.id,
                "plate": v.plate,
                "plate_color": v.plate_color,
                "driver_is_this_resident": v.resident_id == resident.id,
                "registered_at": ctx.local(v.created_at),
            }
            for v in vehicles
        ],
        "face": _face(session, resident, history, ctx),
        "pin": _pin(resident, history, ctx),
        "visitor_passes": _passes(session, household.id, ctx),
        "plate_lists": _plate_lists(session, vehicles, ctx),
        "inside_now": _inside(session, vehicles, ctx),
        "staff_actions": [
            {
                "at": ctx.local(e.at),
                "by": e.username,
                "action": e.action,
                "reason": e.reason,
                "details": dict(e.details or {}),
            }
            for e in history
        ],
        "passages": _passages(session, resident, household, vehicles, ctx),
        "retention": _retention(ctx),
        "not_included": list(NOT_INCLUDED),
    }


def _retention(ctx: ExportContext) -> dict[str, Any]:
    """How long each kind of record is kept, in the person's words as well as in days."""
    if ctx.passage_days == 0:
        passages = "通行记录一直保存"
    else:
        passages = (
            f"通行记录 {ctx.passage_days} 天后删除车牌、车辆和住户信息，只留时间、出入口和结果"
        )
    return {
        "snapshot_days": ctx.snapshot_days,
        "passage_days": ctx.passage_days,
        "snapshots": f"抓拍照片 {ctx.snapshot_days} 天后删除（磁盘空间不足时可能提前删除）",
        "passages": passages,
        "resident_record": "住户、车辆、人脸数据和通行密码保存到管理员删除为止",
        "audit_log": "操作日志一直保存（记录员工的操作，只写住户编号，不写姓名和电话）",
    }


def _history(session: Session, resident: Resident) -> list[AuditEntry]:
    """The staff actions on this resident's record, oldest first. Only from their own
    registration on: SQLite gave a deleted resident's id to the next one before migration 0016,
    and the earlier person's entries are not this one's."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.target == f"resident:{resident.id}", AuditEntry.at >= resident.created_at
            )
            .order_by(AuditEntry.at, AuditEntry.id)
        )
    )


def _latest(history: list[AuditEntry], action: str) -> AuditEntry | None:
    found = [e for e in history if e.action == action]
    return found[-1] if found else None


def _face(
    session: Session, resident: Resident, history: list[AuditEntry], ctx: ExportContext
) -> dict[str, Any]:
    # Columns only: the embedding is never read into the export, so it cannot end up in it.
    templates = session.execute(
        select(FaceTemplate.id, FaceTemplate.created_at, FaceTemplate.created_by)
        .where(FaceTemplate.resident_id == resident.id)
        .order_by(FaceTemplate.id)
    ).all()
    given = _latest(history, "face.consent")
    withdrawn = _latest(history, "face.consent_withdrawn")
    return {
        "consent_given": resident.face_consent_at is not None,
        "consent_at": ctx.local(resident.face_consent_at),
        "consent_recorded_by": resident.face_consent_by,
        "consent_note": given.reason if given and resident.face_consent_at else None,
        "last_withdrawn_at": ctx.local(withdrawn.at) if withdrawn else None,
        "last_withdrawn_by": withdrawn.username if withdrawn else None,
        "template_count": len(templates),
        "templates": [
            {"id": t.id, "enrolled_at": ctx.local(t.created_at), "enrolled_by": t.created_by}
            for t in templates
        ],
        "photos_stored": False,
    }


def _pin(resident: Resident, history: list[AuditEntry], ctx: ExportContext) -> dict[str, Any]:
    is_set = resident.pin_hash is not None
    # The resident row keeps no time of its own for the PIN: the log's last pin_set has it.
    last_set = _latest(history, "resident.pin_set") if is_set else None
    return {
        "set": is_set,
        "set_at": ctx.local(last_set.at) if last_set else None,
        "set_by": last_set.username if last_set else None,
    }


def _passes(session: Session, household_id: int, ctx: ExportContext) -> list[dict[str, Any]]:
    """Visitor passes the household hosts (the model ties a pass to its host household, not
    to a resident): the visitor's plate is what the household registered for them."""
    rows = session.scalars(
        select(VisitorPass)
        .where(VisitorPass.host_household_id == household_id)
        .order_by(VisitorPass.valid_from.desc(), VisitorPass.id.desc())
    )
    return [
        {
            "id": p.id,
            "visitor_plate": p.plate,  # None: a walk-in pass (QR code, no car)
            "walk_in": p.walk_in,
            "valid_from": ctx.local(p.valid_from),
            "valid_to": ctx.local(p.valid_to),
            "max_uses": p.max_uses,
            "uses": p.uses,
            # A recurring pass admits only on these days and hours (community time), as
            # PassOut shows them; None: any day, all day.
            "weekdays": p.weekdays.split(",") if p.weekdays else None,
            "hours_from": p.hours_from,
            "hours_to": p.hours_to,
            "note": p.note,
            "registered_by": p.created_by,
            "registered_at": ctx.local(p.created_at),
        }
        for p in rows
    ]


def _plate_lists(
    session: Session, vehicles: list[Vehicle], ctx: ExportContext
) -> list[dict[str, Any]]:
    plates = [v.plate for v in vehicles]
    if not plates:
        return []
    rows = session.scalars(
        select(PlateListEntry).where(PlateListEntry.plate.in_(plates)).order_by(PlateListEntry.id)
    )
    return [
        {"plate": e.plate, "kind": e.kind, "reason": e.reason, "since": ctx.local(e.created_at)}
        for e in rows
    ]


def _inside(session: Session, vehicles: list[Vehicle], ctx: ExportContext) -> list[dict[str, Any]]:
    plates = [v.plate for v in vehicles]
    if not plates:
        return []
    rows = session.scalars(select(Presence).where(Presence.plate.in_(plates)))
    return [
        {"plate": p.plate, "zone_id": p.zone_id, "entered_at": ctx.local(p.entered_at)}
        for p in rows
    ]


def _passages(
    session: Session,
    resident: Resident,
    household: Household,
    vehicles: list[Vehicle],
    ctx: ExportContext,
) -> dict[str, Any]:
    """Passages still whole (not anonymised) that were recorded for the resident (face, PIN)
    or for one of the household's cars: matched to a car of the household, or read as one
    of its plates (a guard's review) since that car was registered. Times bound the ids too,
    as in ``_history``."""
    mine = [
        and_(Passage.resident_id == resident.id, Passage.at >= resident.created_at),
        and_(
            Passage.household_id == household.id,
            Passage.vehicle_id.is_not(None),
            Passage.at >= household.created_at,
        ),
    ]
    for v in vehicles:
        mine.append(
            and_(
                or_(
                    Passage.plate == v.plate,
                    Passage.matched_plate == v.plate,
                    Passage.resolved_plate == v.plate,
                ),
                Passage.at >= v.created_at,
            )
        )
    where = and_(Passage.anonymised_at.is_(None), or_(*mine))
    total = session.scalar(select(func.count()).select_from(Passage).where(where)) or 0
    rows = session.execute(
        select(
            Passage.id,
            Passage.at,
            Passage.gate_id,
            Passage.direction,
            Passage.zone_id,
            Passage.plate,
            Passage.matched_plate,
            Passage.decision,
            Passage.reason,
            Passage.credential,
            Passage.barrier_outcome,
            Passage.resident_id,
            Passage.vehicle_id,
            Passage.resolution,
            Passage.resolved_at,
            Passage.resolved_plate,
            Passage.snapshot_path,
            Passage.details,
        )
        .where(where)
        .order_by(Passage.at.desc(), Passage.id.desc())
        .limit(ctx.passage_limit)
        .offset(ctx.passage_offset)
    ).all()
    items = [_passage(row, resident.id, ctx) for row in rows]
    more = ctx.passage_offset + len(items) < total
    return {
        "total": total,
        "offset": ctx.passage_offset,
        "limit": ctx.passage_limit,
        "more": more,
        "next_offset": ctx.passage_offset + len(items) if more else None,
        "items": items,
    }


def _passage(row: Any, resident_id: int, ctx: ExportContext) -> dict[str, Any]:
    details = row.details or {}
    # Deleted at their request (services/gate_snapshot_erasure.py): taken, and gone since.
    erased = row.snapshot_path is None and details.get("snapshot") == DELETED_ON_REQUEST
    taken = row.snapshot_path is not None or erased
    return {
        "id": row.id,
        "at": ctx.local(row.at),
        "gate_id": row.gate_id,
        "gate_name": ctx.gate_names.get(row.gate_id, row.gate_id),
        "direction": row.direction,
        "zone_id": row.zone_id,
        # Face and PIN passages are the person's own; the others are their household's car.
        "recorded_for": "resident"
        if row.resident_id == resident_id and row.vehicle_id is None
        else "vehicle",
        "credential": row.credential,
        "plate_read": row.plate,
        "matched_plate": row.matched_plate,
        "decision": row.decision,
        "reason": row.reason,
        "barrier_outcome": row.barrier_outcome,
        "resolution": row.resolution,
        "resolved_at": ctx.local(row.resolved_at),
        "resolved_plate": row.resolved_plate,
        "snapshot": {
            "taken": taken,
            "still_stored": not erased and taken and ctx.snapshot_exists(row.snapshot_path),
            # Saved with the frame's time, which is the passage's.
            "captured_at": ctx.local(row.at) if taken else None,
            "deleted_by": _deleted_at(details, ctx) if erased
            else ctx.local(row.at + timedelta(days=ctx.snapshot_days)) if taken else None,
            "deleted_on_request": erased,
        },
    }


def _deleted_at(details: dict[str, Any], ctx: ExportContext) -> str | None:
    try:
        return ctx.local(datetime.fromisoformat(details["snapshot_deleted_at"]))
    except (KeyError, TypeError, ValueError):
        return None
