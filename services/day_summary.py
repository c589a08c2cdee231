"""A day at the gates in figures, for the property office's report page and API.

What a property manager asks of a day: how many cars came and went, how many the gates let in
on their own and how many needed a guard, what was refused and why, what the guards did by
hand (and who), which alarms were raised, and how full each zone got. Everything is counted
from the stored history of local days; nothing is written.

A day's report and a month's (services/month_summary.py) are the same code: ``day_summaries``
reads each kind of history in one statement for all the days asked for, grouped by local
day in the database (services/local_days.py), so a month is a handful of queries, not a
handful per day, and its days can never disagree with the day reports.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from sqlalchemy import (
    ColumnElement,
    Result,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    null,
    or_,
    select,
)
from sqlalchemy.orm import Session

from controllers.values import TYPED_PLATE
from models.events import Alarm, AuditEntry, Passage
from services.audit_journal import LOGIN_PREFIX
from services.local_days import Columns, LocalDay, check_consecutive, day_by_day, in_day
from services.reports import (
    ADMITTED_RESOLUTIONS,
    OccupancyDay,
    admission_undone,
    listed_zone,
    local_day_bounds,
)
from services.zone_peaks import ZonePeak, zone_peaks

# Audit actions that moved a barrier by hand (services/gate_actions.py) or let a car in or
# out from the review queue (services/review.py): what a guard did instead of the gate.
HAND_ACTIONS = ("gate.", "passage.")
# A tailgating alarm is raised alike at both kinds of gate: at a pedestrian gate it is a person
# who followed a resident in unchecked (尾随), not a vehicle through a barrier opening (跟车),
# and there is no parking count to correct. The figures keep the two apart by this key.
TAILGATING = "tailgating"
PEDESTRIAN_TAILGATING = "tailgating.pedestrian"


@dataclass(frozen=True, slots=True)
class DaySummary:
    day: date
    start: datetime
    end: datetime
    passages: int
    by_decision: dict[str, int]  # allow / deny / review
    by_reason: dict[str, dict[str, int]]  # decision -> reason -> count
    entries: int  # admitted, direction in (a review the guard allowed counts)
    exits: int
    # vehicle entries the gate decided alone (not on a plate a guard typed) / all entries
    automatic_share: float | None
    reviews: dict[str, int]  # resolution -> count ("unresolved": not dealt with yet)
    guard_actions: dict[str, dict[str, int]]  # username -> action -> count
    # kind -> count; tailgating at a pedestrian gate counted as PEDESTRIAN_TAILGATING (尾随)
    alarms: dict[str, int]
    zones: tuple[ZonePeak, ...]
    # auth.login / auth.login_failed / auth.logout -> count: many failures are someone guessing.
    logins: dict[str, int] = field(default_factory=dict)


def day_summary(
    session: Session, occupancy: OccupancyDay, pedestrian_gates: Collection[str] = ()
) -> DaySummary:
    """The figures of the local day ``occupancy`` reports on (its day, time zone and end);
    ``pedestrian_gates``: the ids of the gates people walk through (see day_summaries).

    Its zone peaks are counted in the database as a month's are (services/zone_peaks.py), not
    taken from the chart's steps: tests/test_month_summary.py holds them to those steps."""
    start, end = local_day_bounds(occupancy.day, occupancy.tz)
    day = LocalDay(occupancy.day, start, end, occupancy.end)
    return day_summaries(session, (day,), occupancy.tz, pedestrian_gates)[0]


@dataclass(slots=True)
class _Counts:
    """One day's counters, filled from the grouped rows of the span."""

    by_decision: Counter[str] = field(default_factory=Counter)
    by_reason: dict[str, Counter[str]] = field(default_factory=dict)
    reviews: Counter[str] = field(default_factory=Counter)
    entries: int = 0
    exits: int = 0
    automatic: int = 0
    guard_actions: dict[str, Counter[str]] = field(default_factory=dict)
    logins: Counter[str] = field(default_factory=Counter)
    alarms: Counter[str] = field(default_factory=Counter)


def day_summaries(
    session: Session, days: Sequence[LocalDay], tz: tzinfo, pedestrian_gates: Collection[str] = ()
) -> list[DaySummary]:
    """The figures of each of ``days`` (consecutive local days in ``tz``, oldest first).

    A tailgating alarm at one of ``pedestrian_gates`` (the configured gates of kind
    pedestrian, as the console reads them) counts as :data:`PEDESTRIAN_TAILGATING`."""
    days = check_consecutive(days)
    counts = [_Counts() for _ in days]
    _count_passages(session, days, counts)
    _count_audit(session, days, counts)
    _count_alarms(session, days, counts, frozenset(pedestrian_gates))
    peaks = zone_peaks(session, days, tz)
    return [
        DaySummary(
            day=day.day,
            start=day.start,
            end=day.until,
            passages=sum(c.by_decision.values()),
            by_decision=dict(c.by_decision),
            by_reason={d: dict(r.most_common()) for d, r in sorted(c.by_reason.items())},
            entries=c.entries,
            exits=c.exits,
            automatic_share=c.automatic / c.entries if c.entries else None,
            reviews=dict(c.reviews.most_common()),
            guard_actions={u: dict(sorted(a.items())) for u, a in sorted(c.guard_actions.items())},
            logins=dict(sorted(c.logins.items())),
            alarms=dict(c.alarms.most_common()),
            zones=zone_peaks_of_day,
        )
        for day, c, zone_peaks_of_day in zip(days, counts, peaks, strict=True)
    ]


def _count_passages(session: Session, days: Sequence[LocalDay], counts: list[_Counts]) -> None:
    """Decisions, reasons, reviews, entries and exits, grouped in the database per day.

    Entries and exits are counted as the occupancy report counts them: passages into or out
    of a zone (the one each moved, else its gate's: services/reports.py listed_zone) that let
    the car through, on the gate's own decision or a guard's. Whether one is counted hangs on
    its flags, which the database groups as text (PostgreSQL cannot compare ``json``) and
    Python reads, as it reads them everywhere else."""
    counted = and_(
        # The gate's zone first: only an exit by a gate with none reads the admission.
        or_(Passage.zone_id.is_not(None), listed_zone().is_not(None)),
        or_(Passage.decision == "allow", Passage.resolution.in_(ADMITTED_RESOLUTIONS)),
    )
    is_counted = case((counted, 1), else_=0).label("counted")
    # Flags only where they decide something: fewer groups.
    flags = case((counted, cast(Passage.flags, String)), else_=null()).label("counted_flags")
    keys = (
        Passage.decision,
        Passage.reason,
        Passage.resolution,
        Passage.direction,
        is_counted,
        flags,
    )
    rows = _grouped(
        session,
        days,
        lambda index, day: (
            select(index, *keys, func.count()).where(*in_day(Passage.at, day)).group_by(*keys)
        ),
    )
    for i, decision, reason, resolution, direction, in_count, flags_text, n in rows:
        day = counts[i]
        day.by_decision[decision] += n
        day.by_reason.setdefault(decision, Counter())[reason] += n
        if decision == "review":
            day.reviews[resolution or "unresolved"] += n
        if not in_count:
            continue
        passage_flags = None if flags_text is None else json.loads(flags_text)
        if admission_undone(passage_flags):
            continue
        if direction == "in":
            day.entries += n
            # A plate a guard typed (camera dark) was let in by the guard, not by the gate.
            if decision == "allow" and TYPED_PLATE not in (passage_flags or ()):
                day.automatic += n
        else:
            day.exits += n


def _count_audit(session: Session, days: Sequence[LocalDay], counts: list[_Counts]) -> None:
    keys = (AuditEntry.username, AuditEntry.action)
    for i, username, action, n in _grouped(
        session,
        days,
        lambda index, day: (
            select(index, *keys, func.count()).where(*in_day(AuditEntry.at, day)).group_by(*keys)
        ),
    ):
        if action.startswith(HAND_ACTIONS):
            counts[i].guard_actions.setdefault(username, Counter())[action] += n
        elif action.startswith(LOGIN_PREFIX):
            counts[i].logins[action] += n


def _count_alarms(
    session: Session,
    days: Sequence[LocalDay],
    counts: list[_Counts],
    pedestrian_gates: frozenset[str],
) -> None:
    keys = (Alarm.kind, Alarm.gate_id)
    for i, kind, gate_id, n in _grouped(
        session,
        days,
        lambda index, day: (
            select(index, *keys, func.count()).where(*in_day(Alarm.at, day)).group_by(*keys)
        ),
    ):
        if kind == TAILGATING and gate_id in pedestrian_gates:
            kind = PEDESTRIAN_TAILGATING
        counts[i].alarms[kind] += n


def _grouped(
    session: Session,
    days: Sequence[LocalDay],
    query: Callable[[ColumnElement[int], LocalDay], Select[int, *Columns]],
) -> Result[int, *Columns]:
    """The grouped query over every day in one statement, its rows in the order of their
    columns but the last (the count): counts that tie are then listed in the same order on
    either database, where grouping alone leaves PostgreSQL's order to its hash table."""
    statement = day_by_day(list(enumerate(days)), query)
    return session.execute(statement.order_by(*list(statement.selected_columns)[:-1]))
