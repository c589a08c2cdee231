"""Which zones a report lists on a day: those the configuration named at some time of it.

A zone retired (services/site.py) is listed on the days up to and including the one it was
retired on, and again from the day it was configured again; a zone added later from the day
it was added. A zone without any span has not been through a start since migration 0017
(the next start gives it one) and is listed every day, as every zone was before.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.site import ZonePeriod

Span = tuple[datetime | None, datetime | None]  # (since, until); None: open on that side


@dataclass(frozen=True, slots=True)
class ZoneSpans:
    spans: dict[str, tuple[Span, ...]]

    def listed(self, zone_id: str, start: datetime, end: datetime) -> bool:
        """Whether the zone was configured at some moment of [start, end)."""
        spans = self.spans.get(zone_id)
        if not spans:
            return True
        return any(
            (since is None or since < end) and (until is None or until > start)
            for since, until in spans
        )


def zone_spans(session: Session) -> ZoneSpans:
    """Every zone's spans (a handful of rows: one per zone and time it was configured)."""
    spans: defaultdict[str, list[Span]] = defaultdict(list)
    for zone_id, since, until in session.execute(
        select(ZonePeriod.zone_id, ZonePeriod.since, ZonePeriod.until)
    ):
        spans[zone_id].append((since, until))
    return ZoneSpans({zone_id: tuple(s) for zone_id, s in spans.items()})
