"""Finding past alarms the way guards and the property office ask for them.

"What alarms were there last night and how were they handled?" at shift handover, "was there
a 跟车 at the east entry on Tuesday at 2 am?" for the office. Alarms leave the booth screen once
acknowledged; this reads them back by time window, gate, kind and state, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from controllers.ports import PendingAlarm
from models.events import Alarm

AlarmState = Literal["open", "acknowledged", "all"]


@dataclass(frozen=True, slots=True)
class AlarmQuery:
    state: AlarmState = "all"
    gate_id: str | None = None
    kind: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError(
                f"since ({self.since.isoformat()}) must be before until ({self.until.isoformat()})"
            )

    def admits(self, alarm: PendingAlarm) -> bool:
        """Whether an alarm not stored yet (a database outage's) is one this query finds: it
        is open, so an ``acknowledged`` query never does."""
        return (
            self.state != "acknowledged"
            and (self.gate_id is None or alarm.gate_id == self.gate_id)
            and (self.kind is None or alarm.kind == self.kind)
            and (self.since is None or alarm.at >= self.since)
            and (self.until is None or alarm.at < self.until)
        )


@dataclass(frozen=True, slots=True)
class AlarmResults:
    rows: Sequence[Alarm]
    total: int


def _window(query: AlarmQuery) -> Select[Alarm]:
    stmt = select(Alarm)
    if query.state == "open":
        stmt = stmt.where(Alarm.acknowledged_at.is_(None))
    elif query.state == "acknowledged":
        stmt = stmt.where(Alarm.acknowledged_at.is_not(None))
    if query.gate_id is not None:
        stmt = stmt.where(Alarm.gate_id == query.gate_id)
    if query.kind is not None:
        stmt = stmt.where(Alarm.kind == query.kind)
    if query.since is not None:
        stmt = stmt.where(Alarm.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(Alarm.at < query.until)
    return stmt


def search_alarms(session: Session, query: AlarmQuery, *, limit: int, offset: int) -> AlarmResults:
    """Stored alarms newest first, one page of them, and how many match in all."""
    stmt = _window(query)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    if limit <= 0:
        return AlarmResults([], total)
    rows = session.scalars(
        stmt.order_by(Alarm.at.desc(), Alarm.id.desc()).limit(limit).offset(offset)
    ).all()
    return AlarmResults(rows, total)
