"""Alarms raised by gates and passages, and their acknowledgement by a guard."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from api.console.security import require_csrf
from api.deps import ServicesDep, SessionDep, StaffUser
from api.params import Offset, PathId
from api.schemas import Note
from controllers.events import Event
from errors import ConflictError, NotFoundError
from models.base import utcnow
from models.events import Alarm, AuditEntry

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])


class AlarmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    kind: str
    gate_id: str | None
    zone_id: str | None
    message: str
    passage_id: int | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None


class AlarmPage(BaseModel):
    items: list[AlarmOut]
    total: int


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = Field("", max_length=500, description="What the guard did about it.")


def open_alarms(session: Session, limit: int = 50) -> list[Alarm]:
    query = select(Alarm).where(Alarm.acknowledged_at.is_(None))
    return list(session.scalars(query.order_by(Alarm.at.desc(), Alarm.id.desc()).limit(limit)))


@router.get("", response_model=AlarmPage, summary="Alarms, newest first")
def list_alarms(
    session: SessionDep,
    _: StaffUser,
    state: Literal["open", "acknowledged", "all"] = "open",
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> AlarmPage:
    query = select(Alarm)
    if state == "open":
        query = query.where(Alarm.acknowledged_at.is_(None))
    elif state == "acknowledged":
        query = query.where(Alarm.acknowledged_at.is_not(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Alarm.at.desc(), Alarm.id.desc()).limit(limit).offset(offset)
    )
    return AlarmPage(items=[AlarmOut.model_validate(a) for a in rows], total=total)


@router.post(
    "/{alarm_id}/ack",
    response_model=AlarmOut,
    dependencies=[Depends(require_csrf)],
    responses={404: {"description": "No such alarm"}, 409: {"description": "Already acked"}},
)
def acknowledge(
    alarm_id: PathId,
    session: SessionDep,
    services: ServicesDep,
    user: StaffUser,
    background: BackgroundTasks,
    body: AckIn | None = None,
) -> Any:
    # A conditional UPDATE: of two guards acknowledging at once, exactly one wins.
    claimed = session.execute(
        update(Alarm)
        .where(Alarm.id == alarm_id, Alarm.acknowledged_at.is_(None))
        .values(acknowledged_by=user.name, acknowledged_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFoundError(f"alarm {alarm_id} not found")
    if claimed != 1:
        raise ConflictError(
            f"alarm {alarm_id} was already acknowledged by {alarm.acknowledged_by}"
        )
    assert alarm.acknowledged_at is not None
    note = body.note.strip() if body else ""
    session.add(AuditEntry(
        username=user.name, action="alarm.ack", target=f"alarm:{alarm_id}",
        gate_id=alarm.gate_id, passage_id=alarm.passage_id, reason=note,
        details={"kind": alarm.kind},
    ))
    session.flush()
    # After the response, i.e. after the commit: other consoles re-read the alarm list.
    background.add_task(services.bus.publish, Event("alarm", {
        "id": alarm.id, "kind": alarm.kind, "gate_id": alarm.gate_id,
        "acknowledged_by": user.name, "acknowledged_at": alarm.acknowledged_at.isoformat(),
    }))
    return AlarmOut.model_validate(alarm)
