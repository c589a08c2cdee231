"""Local days as spans of stored time, and one statement that asks the same of each of them.

A report over several days (the month report) reads each kind of history in one statement
for all of its days instead of a statement per day: ``day_by_day`` joins the same query
over each day with UNION ALL, each day's rows tagged with its index. Each day keeps its own
``at >= start AND at < end``, the bounds a day report uses, so a month is split at the same
local midnights as its days, for any time zone. Asking it as one grouped query over the month
(a CASE on the moment for the day) was tried and measured: on SQLite it sorted the month's
400,000 passages as one set, twice as slow as a day at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from itertools import pairwise
from typing import TypeVarTuple

from sqlalchemy import ColumnElement, CompoundSelect, Integer, Select, literal_column, union_all
from sqlalchemy.orm import InstrumentedAttribute

from errors import InvalidInputError
from services.reports import local_day_bounds

DAY_INDEX = "day_index"


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
    """The days themselves, refused with a gap: the count carried from one midnight to the
    next (services/zone_peaks.py) would skip the missing day's changes."""
    if not days:
        raise ValueError("expected at least one day, got none")
    for earlier, later in pairwise(days):
        if earlier.end != later.start:
            raise ValueError(
                f"expected consecutive days, got {earlier.day} followed by {later.day}")
    return tuple(days)


def in_day(column: InstrumentedAttribute[datetime], day: LocalDay
           ) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return column >= day.start, column < day.end


Columns = TypeVarTuple("Columns")


def day_by_day(
    days: Sequence[tuple[int, LocalDay]],
    query: Callable[[ColumnElement[int], LocalDay], Select[int, *Columns]],
) -> Select[int, *Columns] | CompoundSelect[int, *Columns]:
    """``query(index, day)`` for each (index, day), as one statement; ``index`` is a column
    to select first, labelled ``day_index``, so each row says which day it counts for."""
    if not days:
        raise ValueError("expected at least one day, got none")
    # The index as SQL text, not a bound value: PostgreSQL cannot type a bare parameter in
    # a UNION's select list. It is an int the caller numbered, never outside input.
    parts = [query(literal_column(str(int(index)), Integer).label(DAY_INDEX), day)
             for index, day in days]
    return parts[0] if len(parts) == 1 else union_all(*parts)
