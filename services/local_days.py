"""Local days as spans of stored time, and which of them a stored moment falls in.

A report over several days (the month report) reads each kind of history once for all of
its days instead of once per day: a CASE on the moment gives the index of its day, so
grouping by it splits the span at each local midnight exactly where separate queries per day
(``at >= start AND at < end``) did, on SQLite and PostgreSQL alike and for any time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from itertools import pairwise

from sqlalchemy import ColumnElement, case, literal
from sqlalchemy.orm import InstrumentedAttribute

from errors import InvalidInputError
from services.reports import local_day_bounds


@dataclass(frozen=True, slots=True)
class LocalDay:
    day: date
    start: datetime  # local midnight, aware
    end: datetime  # the next local midnight: the history counted is [start, end)
    until: datetime  # end, or now for today: what the report says it covers


def local_days(days: Sequence[date], tz: tzinfo, now: datetime) -> tuple[LocalDay, ...]:
    """``days`` (consecutive, oldest first) as spans in ``tz``; a day not begun is refused."""
    out = []
    for day in days:
        start, end = local_day_bounds(day, tz)
        if start > now:
            raise InvalidInputError(f"{day} has not started yet in {tz}")
        out.append(LocalDay(day, start, end, min(end, now).astimezone(tz)))
    return check_consecutive(out)


def check_consecutive(days: Sequence[LocalDay]) -> tuple[LocalDay, ...]:
    """The days themselves; ``day_index`` gives wrong days for a gap, so a gap is refused."""
    if not days:
        raise ValueError("expected at least one day, got none")
    for earlier, later in pairwise(days):
        if earlier.end != later.start:
            raise ValueError(
                f"expected consecutive days, got {earlier.day} followed by {later.day}")
    return tuple(days)


def within(column: InstrumentedAttribute[datetime], days: Sequence[LocalDay]
           ) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """``column`` within the span of ``days``, from the first midnight to the last."""
    return column >= days[0].start, column < days[-1].end


def day_index(column: InstrumentedAttribute[datetime], days: Sequence[LocalDay]
              ) -> ColumnElement[int]:
    """The index in ``days`` of the day ``column`` falls in (for rows ``within`` them): the
    first day whose end is after it, so a moment at exactly midnight is the new day's."""
    return _halves(column, days, 0, len(days))


def _halves(column: InstrumentedAttribute[datetime], days: Sequence[LocalDay], first: int,
            stop: int) -> ColumnElement[int]:
    # Nested halves, not one WHEN per day: five comparisons a row for a month instead of
    # fifteen on average, which was a third of the month's passage query on SQLite.
    if stop - first == 1:
        return literal(first)
    middle = (first + stop) // 2
    return case((column < days[middle].start, _halves(column, days, first, middle)),
                else_=_halves(column, days, middle, stop))
