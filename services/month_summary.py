"""A month at the gates, one row per day: the property office's monthly report (月报).

Each row is that day's figures (services/day_summary.py), so a month and its days never
disagree; days that have not begun are left out. The month is read once per kind of history
(passages, audit entries, alarms, each zone's samples), grouped by local day in the database:
a handful of queries for the whole month. Asked a handful per day, it took 8–22 s at the
bench's 13,000 passages a day (bench/scale.py).
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TextIO

from sqlalchemy.orm import Session

from services.day_summary import DaySummary, day_summaries
from services.local_days import local_days
from services.reports import write_table
from wall_clock import utcnow

MONTH_CSV_COLUMNS = (
    "date",
    "entries",
    "exits",
    "automatic_share",
    "to_guard",
    "refused",
    "alarms",
    "guard_hand_actions",
    "peak_zone",
    "peak",
    "capacity",
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
    """The zone that came nearest to full that day: (zone, peak, capacity); None when no
    zone had a car all day (the first zone at 0 of its capacity read as the day's fullest)."""
    zones = [z for z in day.zones if z.capacity > 0 and z.peak > 0]
    if not zones:
        return None
    zone = max(zones, key=lambda z: (z.peak / z.capacity, z.peak))
    return zone.zone, zone.peak, zone.capacity


def month_summary(
    session: Session,
    year: int,
    month: int,
    tz: tzinfo,
    *,
    now: datetime | None = None,
    pedestrian_gates: Collection[str] = (),
) -> MonthSummary:
    """Every day of the month that has begun in ``tz``, oldest first (``pedestrian_gates``:
    see services/day_summary.py day_summaries)."""
    now = now or utcnow()
    today = now.astimezone(tz).date()
    begun = [
        date(year, month, number)
        for number in range(1, calendar.monthrange(year, month)[1] + 1)
        if date(year, month, number) <= today
    ]
    if not begun:
        return MonthSummary(year, month, ())
    days = day_summaries(session, local_days(begun, tz, now), tz, pedestrian_gates)
    return MonthSummary(year, month, tuple(days))


def month_csv_rows(summary: MonthSummary) -> Iterator[list[object]]:
    for day in summary.days:
        fullest = fullest_zone(day)
        share = "" if day.automatic_share is None else f"{day.automatic_share:.3f}"
        yield [
            day.day.isoformat(),
            day.entries,
            day.exits,
            share,
            day.by_decision.get("review", 0),
            day.by_decision.get("deny", 0),
            sum(day.alarms.values()),
            hand_actions(day),
            *(fullest if fullest else ("", "", "")),
        ]


def write_month_csv(summary: MonthSummary, out: TextIO) -> int:
    return write_table(out, MONTH_CSV_COLUMNS, month_csv_rows(summary))
