"""Visitor cars still inside after their pass ended: one ``overstay`` alarm each.

A guard sees the plate and how long ago the pass ended; the alarm is raised once per stay
(keyed on the entry passage, or on the pass and entry time when the passage is unknown).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.db import transaction
from models.events import Alarm
from models.vehicles import Presence, VisitorPass


def raise_overstay_alarms(sessions: sessionmaker[Session], now: datetime) -> list[dict[str, Any]]:
    """Write the new alarms in one transaction; returns them as bus event data."""
    raised: list[dict[str, Any]] = []
    with transaction(sessions) as session:
        rows = session.execute(
            select(Presence, VisitorPass)
            .join(VisitorPass, Presence.pass_id == VisitorPass.id)
            .where(VisitorPass.valid_to < now)
        ).all()
        for presence, visitor_pass in rows:
            marker = f"pass #{visitor_pass.id} "
            seen = select(Alarm.id).where(Alarm.kind == "overstay")
            if presence.passage_id is not None:
                seen = seen.where(Alarm.passage_id == presence.passage_id)
            else:
                seen = seen.where(Alarm.message.contains(marker)).where(
                    Alarm.at >= presence.entered_at
                )
            if session.scalar(seen.limit(1)) is not None:
                continue
            over = now - visitor_pass.valid_to
            alarm = Alarm(
                kind="overstay",
                zone_id=presence.zone_id,
                passage_id=presence.passage_id,
                message=(
                    f"visitor {presence.plate} on {marker}is still inside "
                    f"{int(over.total_seconds() // 60)} min after the pass ended "
                    f"({visitor_pass.valid_to.isoformat()})"
                ),
            )
            session.add(alarm)
            session.flush()
            raised.append({
                "id": alarm.id, "kind": "overstay", "gate_id": None,
                "zone_id": presence.zone_id, "passage_id": presence.passage_id,
                "pass_id": visitor_pass.id, "message": alarm.message,
            })
    return raised
