"""A month at the gates, one row per day: the property office's monthly report (月报).

Each row is that day's figures (services/day_summary.py), so a month and its days never
disagree; days that have not begun are left out. A handful of small queries per day on
either database: fast enough for a page the office opens a few times a month.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import TextIO

from sqlalchemy.orm import Session

from services.day_summary import DaySummary, day_summary
from services.reports import occupancy_day, write_table

MONTH_CSV_COLUMNS = (
    "date", "entries", "exits", "automatic_share", "to_guard", "refused", "alarms",
    "guard_hand_actions", "peak_zone", "peak", "capacity",
)


@dataclass(frozen=True, slots=True)
class MonthSummary:
    year: int
    month: int
    days: tuple[DaySummary, ...]

    @property
    def entries(self) -> int:
        return sum(d.entries for d in self.days)

    @property
    def exits(self) -> int:
        return sum(d.exits for d in self.days)

    def total(self, decision: str) -> int:
        return sum(d.by_decision.get(decision, 0) for d in self.days)

    @property
    def alarms(self) -> int:
        return sum(sum(d.alarms.values()) for d in self.days)


def hand_actions(day: DaySummary) -> int:
    return sum(sum(actions.values()) for actions in day.guard_actions.values())


def fullest_zone(day: DaySummary) -> tuple[str, int, int] | None:
    """The zone that came nearest to full that day: (zone, peak, capacity)."""
    zones = [z for z in day.zones if z.capacity > 0]
    if not zones:
        return None
    zone = max(zones, key=lambda z: (z.peak / z.capacity, z.peak))
    return zone.zone, zone.peak, zone.capacity


def month_summary(
    session: Session, year: int, month: int, tz: tzinfo, *, now: datetime | None = None
) -> MonthSummary:
    """Every day of the month that has begun in ``tz``, oldest first."""
    now = now or datetime.now(UTC)
    today = now.astimezone(tz).date()
    days = []
    for number in range(1, calendar.monthrange(year, month)[1] + 1):
        day = date(year, month, number)
        if day > today:
            break
        occupancy = occupancy_day(session, day, tz, now=now)
        days.append(day_summary(session, occupancy))
    return MonthSummary(year, month, tuple(days))


def month_csv_rows(summary: MonthSummary) -> Iterator[list[object]]:
    for day in summary.days:
        fullest = fullest_zone(day)
        share = "" if day.automatic_share is None else f"{day.automatic_share:.3f}"
        yield [
            day.day.isoformat(), day.entries, day.exits, share,
            day.by_decision.get("review", 0), day.by_decision.get("deny", 0),
            sum(day.alarms.values()), hand_actions(day),
            *(fullest if fullest else ("", "", "")),
        ]


def write_month_csv(summary: MonthSummary, out: TextIO) -> int:
    return write_table(out, MONTH_CSV_COLUMNS, month_csv_rows(summary))
