"""Searching the audit log and exporting it as CSV for the property office."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from models.events import AuditEntry
from services.spreadsheet_cells import inert_cell

CSV_COLUMNS = ("id", "at", "username", "action", "target", "gate_id", "passage_id", "reason",
               "details")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    user: str | None = None
    action: str | None = None
    gate_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    passage_id: int | None = None  # what staff did about one passage (通行记录's link)

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name} needs a time zone, e.g. 2026-11-28T08:00:00+08:00")

    def statement(self) -> Select[AuditEntry]:
        query = select(AuditEntry)
        if self.user:
            query = query.where(AuditEntry.username == self.user)
        if self.action:
            # "gate" finds gate.open, gate.close…; "gate.open" finds just that action.
            query = query.where(
                or_(AuditEntry.action == self.action,
                    AuditEntry.action.startswith(self.action + ".", autoescape=True))
            )
        if self.gate_id:
            query = query.where(AuditEntry.gate_id == self.gate_id)
        if self.passage_id is not None:
            query = query.where(AuditEntry.passage_id == self.passage_id)
        if self.since:
            query = query.where(AuditEntry.at >= self.since)
        if self.until:
            query = query.where(AuditEntry.at < self.until)
        return query


def search_audit(
    session: Session, query: AuditQuery, *, limit: int = 100, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    statement = query.statement()
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def audit_to_dict(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "username": entry.username,
        "action": entry.action,
        "target": entry.target,
        "gate_id": entry.gate_id,
        "passage_id": entry.passage_id,
        "reason": entry.reason,
        "details": dict(entry.details or {}),
    }


def _cell(value: Any) -> object:
    return inert_cell("" if value is None else str(value))


def audit_csv(entries: Iterable[AuditEntry], tz: tzinfo) -> str:
    """UTF-8 CSV with a BOM so Excel on a Chinese Windows desktop shows 中文 correctly; times
    in ``tz`` with their offset ("2026-11-28T08:00:05+08:00"): the property office reads the
    export beside the audit page, which shows the community's time, so no reader has to know
    the log is UTC."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = audit_to_dict(entry)
        row["at"] = entry.at.astimezone(tz).isoformat(timespec="seconds")
        row["details"] = json.dumps(row["details"], ensure_ascii=False, sort_keys=True)
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()
