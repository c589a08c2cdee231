"""A day at the gates in figures, for the property office's report page and API.

What a property manager asks of a day: how many cars came and went, how many the gates let in
on their own and how many needed a guard, what was refused and why, what the guards did by
hand (and who), which alarms were raised, and how full each zone got. Everything is counted
from the stored history of one local day; nothing is written.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from controllers.values import TYPED_PLATE
from models.events import Alarm, AuditEntry, Passage
from services.audit_journal import LOGIN_PREFIX
from services.reports import (
    ADMITTED_RESOLUTIONS,
    OccupancyDay,
    admission_undone,
    local_day_bounds,
)

# Audit actions that moved a barrier by hand (services/gate_actions.py) or let a car in or
# out from the review queue (services/review.py): what a guard did instead of the gate.
HAND_ACTIONS = ("gate.", "passage.")


@dataclass(frozen=True, slots=True)
class ZonePeak:
    zone: str
    name: str
    capacity: int
    peak: int
    peak_at: datetime | None


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
    alarms: dict[str, int]  # kind -> count
    zones: tuple[ZonePeak, ...]
    # auth.login / auth.login_failed / auth.logout -> count: many failures are someone guessing.
    logins: dict[str, int] = field(default_factory=dict)


def zone_peaks(report: OccupancyDay) -> tuple[ZonePeak, ...]:
    """Each zone's highest count that day and the first moment it was reached (the day's
    start when the zone was already that full at midnight; none for a zone empty all day)."""
    peaks = []
    for zone in report.zones:
        peak = max(count for _, count in zone.steps)
        peak_at = next(t for t, count in zone.steps if count == peak) if peak else None
        peaks.append(ZonePeak(zone.zone, zone.name, zone.capacity, peak, peak_at))
    return tuple(peaks)


def day_summary(session: Session, occupancy: OccupancyDay) -> DaySummary:
    """The figures of the local day ``occupancy`` reports on (its day, zone and peaks)."""
    day = occupancy.day
    start, end = local_day_bounds(day, occupancy.tz)
    in_day = (Passage.at >= start, Passage.at < end)
    by_decision: Counter[str] = Counter()
    by_reason: dict[str, Counter[str]] = {}
    reviews: Counter[str] = Counter()
    # The reviews' resolutions come from the same pass over the day: a query of its own
    # (decision = 'review' within the day) was read by SQLite, which has no statistics, off
    # the index on decision, i.e. through every review of the history, once per day of a
    # month report (bench/scale.py).
    for decision, reason, resolution, n in session.execute(
        select(Passage.decision, Passage.reason, Passage.resolution, func.count())
        .where(*in_day)
        .group_by(Passage.decision, Passage.reason, Passage.resolution)
    ):
        by_decision[decision] += n
        by_reason.setdefault(decision, Counter())[reason] += n
        if decision == "review":
            reviews[resolution or "unresolved"] += n

    # Counted as the occupancy report counts: passages into or out of a zone that let the
    # car through, on the gate's own decision or a guard's.
    entries = exits = automatic = 0
    for direction, decision, flags in session.execute(
        select(Passage.direction, Passage.decision, Passage.flags).where(
            *in_day,
            Passage.zone_id.is_not(None),
            or_(Passage.decision == "allow", Passage.resolution.in_(ADMITTED_RESOLUTIONS)),
        )
    ):
        if admission_undone(flags):
            continue
        if direction == "in":
            entries += 1
            # A plate a guard typed (camera dark) was let in by the guard, not by the gate.
            automatic += decision == "allow" and TYPED_PLATE not in (flags or ())
        else:
            exits += 1

    guard_actions: dict[str, Counter[str]] = {}
    logins: Counter[str] = Counter()
    for username, action, n in session.execute(
        select(AuditEntry.username, AuditEntry.action, func.count())
        .where(AuditEntry.at >= start, AuditEntry.at < end)
        .group_by(AuditEntry.username, AuditEntry.action)
    ):
        if action.startswith(HAND_ACTIONS):
            guard_actions.setdefault(username, Counter())[action] += n
        elif action.startswith(LOGIN_PREFIX):
            logins[action] += n

    alarms: Counter[str] = Counter()
    for kind, n in session.execute(
        select(Alarm.kind, func.count())
        .where(Alarm.at >= start, Alarm.at < end)
        .group_by(Alarm.kind)
    ):
        alarms[kind] += n
    return DaySummary(
        day=day,
        start=start,
        end=occupancy.end,
        passages=sum(by_decision.values()),
        by_decision=dict(by_decision),
        by_reason={d: dict(c.most_common()) for d, c in sorted(by_reason.items())},
        entries=entries,
        exits=exits,
        automatic_share=automatic / entries if entries else None,
        reviews=dict(reviews.most_common()),
        guard_actions={u: dict(sorted(c.items())) for u, c in sorted(guard_actions.items())},
        logins=dict(sorted(logins.items())),
        alarms=dict(alarms.most_common()),
        zones=zone_peaks(occupancy),
    )
