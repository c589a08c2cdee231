"""How full each zone got on each of a few local days, counted in the database.

A zone's count over a day is a step function: the count at midnight (the last sample before
it), then one sample per change. Its peak is the highest step and the first moment it was
reached. Reading every sample of a month to find that took about a second on SQLite at the
bench's 280,000 samples a month (bench/scale.py), so the database does the reading: per zone,
four statements for all the days, whatever their number (services/local_days.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.site import OccupancySample, Zone
from services.local_days import LocalDay, day_by_day, in_day
from services.zone_spans import zone_spans


@dataclass(frozen=True, slots=True)
class ZonePeak:
    zone: str
    name: str
    capacity: int
    peak: int
    peak_at: datetime | None


@dataclass(frozen=True, slots=True)
class _DaySamples:
    """What a day's samples of one zone add up to (days without samples have none)."""

    most: int  # highest count sampled
    capacity: int  # largest capacity sampled
    last_at: datetime  # moment of the day's last sample


def zone_peaks(session: Session, days: Sequence[LocalDay], tz: tzinfo
               ) -> list[tuple[ZonePeak, ...]]:
    """Per day of ``days`` (consecutive, oldest first), each zone's peak, zones by id: the
    highest count and the first moment it was reached (the day's start when the zone was
    already that full at midnight; none for a zone empty all day). A day lists only the
    zones configured during it (services/zone_spans.py)."""
    spans = zone_spans(session)
    listed = [
        (zone, [spans.listed(zone.id, day.start, day.end) for day in days])
        for zone in session.scalars(select(Zone).order_by(Zone.id))
    ]
    # Zones retired before the first day are not read at all: they only ever grow in number.
    per_zone = [(on, _one_zone(session, zone, days, tz)) for zone, on in listed if any(on)]
    return [
        tuple(peaks[i] for on, peaks in per_zone if on[i]) for i in range(len(days))
    ]


def _one_zone(session: Session, zone: Zone, days: Sequence[LocalDay], tz: tzinfo
              ) -> list[ZonePeak]:
    of_zone = OccupancySample.zone_id == zone.id
    numbered = list(enumerate(days))
    sampled = {
        i: _DaySamples(most, capacity, last_at)
        for i, most, capacity, last_at in session.execute(day_by_day(numbered, lambda index, day: (
            select(index, func.max(OccupancySample.occupied),
                   func.max(OccupancySample.capacity), func.max(OccupancySample.at))
            .where(of_zone, *in_day(OccupancySample.at, day))
        )))
        if last_at is not None  # a day without samples is a row of nulls
    }
    last_counts = _last_counts(session, zone, sampled)

    # The count at each midnight: the last sample before the first one, then each day's last.
    carried = session.scalars(
        select(OccupancySample.occupied)
        .where(of_zone, OccupancySample.at < days[0].start)
        .order_by(OccupancySample.at.desc(), OccupancySample.id.desc())
        .limit(1)
    ).first() or 0
    at_midnight = []
    for i in range(len(days)):
        at_midnight.append(carried)
        if i in sampled:
            carried = last_counts[i]

    # Days whose peak came during the day, not already at midnight: when it was first reached.
    reached = {i: s.most for i, s in sampled.items() if s.most > at_midnight[i]}
    first_at: dict[int, datetime] = {}
    if reached:
        peak_on = {days[i].day: most for i, most in reached.items()}
        first_at = {
            i: at for i, at in session.execute(day_by_day(
                [(i, days[i]) for i in sorted(reached)], lambda index, day: (
                    select(index, func.min(OccupancySample.at))
                    .where(of_zone, *in_day(OccupancySample.at, day),
                           OccupancySample.occupied == peak_on[day.day])
                )))
        }

    peaks = []
    for i, day in enumerate(days):
        day_samples = sampled.get(i)
        capacity = max(zone.capacity, day_samples.capacity) if day_samples else zone.capacity
        peak = max(at_midnight[i], reached.get(i, 0))
        if not peak:
            peak_at = None
        elif i in reached:
            peak_at = first_at[i].astimezone(tz)
        else:
            peak_at = day.start
        peaks.append(ZonePeak(zone.id, zone.name, capacity, peak, peak_at))
    return peaks


def _last_counts(session: Session, zone: Zone, sampled: dict[int, _DaySamples]
                 ) -> dict[int, int]:
    """Each sampled day's last count: the sample at the day's last moment, the latest id of
    those when several share it (the order the reports read samples in)."""
    day_of = {s.last_at: i for i, s in sampled.items()}
    counts: dict[int, int] = {}
    if not day_of:
        return counts
    for at, occupied in session.execute(
        select(OccupancySample.at, OccupancySample.occupied)
        .where(OccupancySample.zone_id == zone.id, OccupancySample.at.in_(list(day_of)))
        .order_by(OccupancySample.at, OccupancySample.id)
    ):
        counts[day_of[at]] = occupied
    return counts
