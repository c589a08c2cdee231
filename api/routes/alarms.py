"""Alarms raised by gates and passages, and their acknowledgement by a guard."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, BackgroundTasks, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from api.console.security import require_csrf
from api.deps import ServicesDep, SessionDep, StaffUser, StaffUserDuringOutage
from api.params import Moment, Offset, PathId
from api.schemas import Note
from controllers.events import Event
from controllers.ports import ADMISSION_UNDONE, PendingAlarm
from errors import ConflictError, InvalidInputError, NotFoundError
from models.base import utcnow
from models.db import DATABASE_DOWN
from models.events import ACK_NOTE_CHARS, Alarm, AuditEntry, Passage
from services.alarm_search import AlarmQuery, AlarmState, search_alarms
from services.container import Services
from services.snapshots import SnapshotStore

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

# What the alarms table keeps of a message (AccessUnit.raise_alarm cuts it there).
_STORED_MESSAGE_CHARS = 500
_KIND_CODE = re.compile(r"[a-z][a-z_]*")


def _kind_code(value: str | None) -> str | None:
    """An alarm kind is a code (tailgating), not its label (跟车): a label would otherwise
    list no alarms, read as "there were none". A well-formed code no alarm has lists none."""
    if value and not _KIND_CODE.fullmatch(value):
        raise ValueError(
            f"an alarm kind is a code such as tailgating or blocked_plate, not {value!r}"
        )
    return value


class AlarmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int | None = Field(
        description="None while the alarm is not stored yet (raised during a database outage)."
    )
    at: datetime
    kind: str
    gate_id: str | None
    zone_id: str | None
    message: str
    passage_id: int | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledged_note: str | None = Field(
        None, description="What the guard said they found when acknowledging it, if anything."
    )
    stored: bool = Field(
        True,
        description="False for an alarm raised during a database outage that waits in the "
        "journal: it is stored (and can be acknowledged) once the database answers.",
    )

    @classmethod
    def unstored(cls, alarm: PendingAlarm) -> AlarmOut:
        return cls(
            id=None,
            at=alarm.at,
            kind=alarm.kind,
            gate_id=alarm.gate_id,
            zone_id=None,
            message=alarm.message,
            passage_id=alarm.passage_id,
            acknowledged_by=None,
            acknowledged_at=None,
            stored=False,
        )


class AlarmPage(BaseModel):
    items: list[AlarmOut]
    total: int
    database: bool = Field(
        True,
        description="False while the database cannot be read: the items are then only the "
        "alarms raised since it went away, not stored yet.",
    )


class AckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note = Field(
        "",
        max_length=ACK_NOTE_CHARS,
        description="What the guard found or did (optional), e.g. 车主忘带卡，已核实: kept with "
        "the acknowledgement and in its audit entry.",
    )

    @field_validator("note")
    @classmethod
    def _fits_once_composed(cls, note: str) -> str:
        # max_length counts the text as sent; NFC composition (Note) may rarely lengthen it,
        # and PostgreSQL's column would then refuse it with a 500.
        if len(note) > ACK_NOTE_CHARS:
            raise ValueError(f"must be at most {ACK_NOTE_CHARS} characters")
        return note


BOOTH_ALARMS = 50  # the newest open alarms the booth screen lists


def open_alarms(session: Session, limit: int = BOOTH_ALARMS) -> list[Alarm]:
    query = select(Alarm).where(Alarm.acknowledged_at.is_(None))
    return list(session.scalars(query.order_by(Alarm.at.desc(), Alarm.id.desc()).limit(limit)))


def open_alarm_count(session: Session) -> int:
    query = select(func.count()).select_from(Alarm).where(Alarm.acknowledged_at.is_(None))
    return int(session.scalar(query) or 0)


def passages_with_snapshot(
    session: Session, snapshots: SnapshotStore, alarms: list[Alarm]
) -> dict[int, bool]:
    """The passages of ``alarms`` that were photographed, each with whether its photo is
    still on disk: only those get a 抓拍 link (a PIN lock-out or a fault is tied to a passage
    the camera never saw). Retention and the low-space cleanup delete files whose passages
    keep their path; such a link opened the API's 404 in a new tab, so the console says
    照片已删除 instead. A stat per photographed alarm, on at most a page of them."""
    ids = {a.passage_id for a in alarms if a.passage_id is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(Passage.id, Passage.snapshot_path)
        .where(Passage.id.in_(ids))
        .where(Passage.snapshot_path.is_not(None))
    )
    return {
        passage_id: _on_disk(snapshots, path) for passage_id, path in rows if path is not None
    }


def _on_disk(snapshots: SnapshotStore, relative: str) -> bool:
    try:
        snapshots.path(relative)
    except NotFoundError:
        return False
    except OSError as err:
        # Unreadable, not deleted (a folder's permissions after a restore by hand): the link
        # stays, as before this check, and the booth page is drawn rather than a 500.
        logger.warning("snapshot %s not checked: %s", relative, err)
    return True


def passages_to_open_for(
    session: Session, alarms: list[Alarm], barrier_gates: Collection[str]
) -> dict[int, Passage]:
    """The passages of ``hardware_fault`` alarms whose barrier failed for an allowed car
    that is still not counted (``admission_undone``), at a gate with a barrier: the booth
    screen offers the same 人工开闸放行 there as on the passage's row."""
    ids = {a.passage_id for a in alarms if a.kind == "hardware_fault" and a.passage_id}
    if not ids:
        return {}
    passages = session.scalars(select(Passage).where(Passage.id.in_(ids)))
    return {
        p.id: p
        for p in passages
        if ADMISSION_UNDONE in (p.flags or ()) and p.gate_id in barrier_gates
    }


def unstored_alarms(services: Services) -> list[PendingAlarm]:
    """The alarms raised during a database outage that wait in the journal, newest first.

    Read them before the stored rows, then pass them through :func:`without_stored`."""
    return sorted(services.runtime.unstored_alarms(), key=lambda a: a.at, reverse=True)


def without_stored(session: Session, unstored: list[PendingAlarm]) -> list[PendingAlarm]:
    """Drops the alarms whose row exists. The write-back stores the journal's alarms and
    trims them from it only afterwards, so a list read in between holds both; the row wins.
    (An alarm trimmed between the two reads is a row the later read sees.)"""
    if not unstored:
        return []
    rows = session.execute(
        select(Alarm.kind, Alarm.gate_id, Alarm.at, Alarm.message).where(
            Alarm.at >= min(a.at for a in unstored)
        )
    )
    stored = {tuple(row) for row in rows}
    return [
        a
        for a in unstored
        if (a.kind, a.gate_id, a.at, a.message[:_STORED_MESSAGE_CHARS]) not in stored
    ]


@router.get("", response_model=AlarmPage, summary="Alarms, newest first")
def list_alarms(
    services: ServicesDep,
    _: StaffUserDuringOutage,
    state: AlarmState = "open",
    gate: str | None = Query(None, max_length=32, description="Alarms at this gate (its id)."),
    kind: Annotated[
        str | None,
        Query(
            max_length=32,
            description="Alarms of this kind (its code), e.g. tailgating, blocked_plate.",
        ),
        AfterValidator(_kind_code),
    ] = None,
    since: Moment | None = Query(None, description="Inclusive start, ISO 8601 with zone."),
    until: Moment | None = Query(None, description="Exclusive end, ISO 8601 with zone."),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> AlarmPage:
    """Alarms raised during a database outage and not stored yet come first (``id`` null,
    ``stored`` false); while the database is down they are all it lists (``database``
    false) instead of a 503. The filters apply to both."""
    try:
        query = AlarmQuery(
            state=state, gate_id=gate or None, kind=kind or None, since=since, until=until
        )
    except ValueError as err:
        raise InvalidInputError(str(err)) from err
    # Its own session, not SessionDep: an outage is an answer here, not an error.
    unstored = [a for a in unstored_alarms(services) if query.admits(a)]
    try:
        with services.sessions() as session:
            unstored = without_stored(session, unstored)
            first = [AlarmOut.unstored(a) for a in unstored[offset : offset + limit]]
            # The stored rows follow the unstored ones: the page's offset and limit count both.
            rows, total = _stored_page(
                session, query, limit - len(first), max(0, offset - len(unstored))
            )
    except DATABASE_DOWN as err:
        logger.debug("alarm list from the journal only, the database is down: %s", err)
        return AlarmPage(
            items=[AlarmOut.unstored(a) for a in unstored[offset : offset + limit]],
            total=len(unstored),
            database=False,
        )
    return AlarmPage(items=first + rows, total=total + len(unstored))


def _stored_page(
    session: Session, query: AlarmQuery, limit: int, offset: int
) -> tuple[list[AlarmOut], int]:
    """Up to ``limit`` stored alarms from ``offset``, newest first, and how many there are."""
    found = search_alarms(session, query, limit=limit, offset=offset)
    return [AlarmOut.model_validate(a) for a in found.rows], found.total


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
    note = body.note.strip() if body else ""
    # A conditional UPDATE: of two guards acknowledging at once, exactly one wins. Its result
    # is a CursorResult (it has the row count); execute() is typed for any statement.
    claimed = cast(
        CursorResult[Any],
        session.execute(
            update(Alarm)
            .where(Alarm.id == alarm_id, Alarm.acknowledged_at.is_(None))
            .values(
                acknowledged_by=user.name, acknowledged_at=utcnow(), acknowledged_note=note or None
            )
            .execution_options(synchronize_session=False)
        ),
    ).rowcount
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFoundError(f"alarm {alarm_id} not found")
    if claimed != 1:
        raise ConflictError(f"alarm {alarm_id} was already acknowledged by {alarm.acknowledged_by}")
    assert alarm.acknowledged_at is not None
    session.add(
        AuditEntry(
            username=user.name,
            action="alarm.ack",
            target=f"alarm:{alarm_id}",
            gate_id=alarm.gate_id,
            passage_id=alarm.passage_id,
            reason=note,
            details={"kind": alarm.kind},
        )
    )
    session.flush()
    # After the response, i.e. after the commit: other consoles re-read the alarm list.
    background.add_task(
        services.bus.publish,
        Event(
            "alarm",
            {
                "id": alarm.id,
                "kind": alarm.kind,
                "gate_id": alarm.gate_id,
                "acknowledged_by": user.name,
                "acknowledged_at": alarm.acknowledged_at.isoformat(),
                "acknowledged_note": alarm.acknowledged_note,
            },
        ),
    )
    return AlarmOut.model_validate(alarm)
