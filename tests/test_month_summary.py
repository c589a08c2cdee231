"""The month report reads each kind of history once for the whole month (services/day_summary.py
``day_summaries``) and gives, day for day and field for field, what one day's queries gave
before: the report as it was computed per day is kept here as the reference.

The history is a month of everything a day report counts, built to sit on the edges: passages
at exactly local midnight, reviews in every state, let-throughs whose barrier failed, typed
plates, zone samples before the month and on days without any, two samples at one moment,
a zone never sampled, the guards' and logins' audit trail, alarms, and a month that is still
going on (its days not begun are left out). Time zones: Beijing (no DST) and two with DST.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import asdict, fields
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from controllers.ports import ADMISSION_UNDONE
from controllers.values import TYPED_PLATE
from errors import InvalidInputError
from models.db import transaction
from models.events import Alarm, AuditEntry, Passage
from models.site import OccupancySample, Zone
from services.day_summary import HAND_ACTIONS, DaySummary, ZonePeak, day_summary
from services.local_days import LocalDay, check_consecutive, local_days
from services.month_summary import month_summary
from services.reports import (
    ADMITTED_RESOLUTIONS,
    OccupancyDay,
    admission_undone,
    local_day_bounds,
    occupancy_day,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")  # summer time ends on 25 October 2026
NEW_YORK = ZoneInfo("America/New_York")  # summer time starts on 8 March 2026

DECISIONS = (
    ("allow", "resident"), ("allow", "resident"), ("allow", "resident"), ("allow", "visitor_pass"),
    ("allow", "staff"), ("deny", "blocked_plate"), ("deny", "anti_passback"),
    ("deny", "outside_schedule"), ("review", "unknown_plate"), ("review", "low_confidence"),
)
RESOLUTIONS = (None, "allowed_once", "allowed_once", "denied", "visitor_pass")
# What an allowed passage moved (models/access_store.py): nothing recorded, a zone (the one
# that counted the car in, for an exit), or a count clamped at 0 that moved none.
ADMISSIONS: tuple[dict[str, Any] | None, ...] = (
    None, None, {"zone_id": "A", "zone_moved": -1}, {"zone_id": "B", "zone_moved": 1},
    {"zone_id": "A", "zone_moved": 0}, {"plate": "沪A00001", "presence": "added"},
)
FLAG_SETS: tuple[list[str], ...] = ([], [], [], [TYPED_PLATE], [ADMISSION_UNDONE], ["fuzzy_match"],
             ["fuzzy_match", TYPED_PLATE], [TYPED_PLATE, ADMISSION_UNDONE])
ACTIONS = ("gate.open", "gate.open", "gate.close", "passage.allow_once", "passage.deny",
           "passage.visitor_pass", "auth.login", "auth.login", "auth.login_failed",
           "auth.logout", "user.create", "settings.update")
USERS = ("guard1", "guard2", "admin", "")
ALARM_KINDS = ("blocked_plate", "hardware_fault", "anti_passback", "zone_full")


def summary_as_before(session: Session, day: date, tz: tzinfo, now: datetime) -> DaySummary:
    """One day's figures as the day report computed them before the month was read at once:
    the occupancy day's steps for the peaks, then a query per kind of history for the day."""
    occupancy = occupancy_day(session, day, tz, now=now)
    start, end = local_day_bounds(day, tz)
    in_day = (Passage.at >= start, Passage.at < end)
    by_decision: Counter[str] = Counter()
    by_reason: dict[str, Counter[str]] = {}
    reviews: Counter[str] = Counter()
    for decision, reason, resolution, n in session.execute(
        select(Passage.decision, Passage.reason, Passage.resolution, func.count())
        .where(*in_day).group_by(Passage.decision, Passage.reason, Passage.resolution)
    ):
        by_decision[decision] += n
        by_reason.setdefault(decision, Counter())[reason] += n
        if decision == "review":
            reviews[resolution or "unresolved"] += n
    entries = exits = automatic = 0
    for direction, decision, flags, zone_id, admission in session.execute(
        select(Passage.direction, Passage.decision, Passage.flags, Passage.zone_id,
               Passage.admission).where(
            *in_day,
            or_(Passage.decision == "allow", Passage.resolution.in_(ADMITTED_RESOLUTIONS)))
    ):
        # At a gate with no zone, an exit that took the car off the zone that counted it in.
        moved = (admission or {}).get("zone_id") if (admission or {}).get("zone_moved") else None
        if admission_undone(flags) or (zone_id is None and moved is None):
            continue
        if direction == "in":
            entries += 1
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
        elif action.startswith("auth."):
            logins[action] += n
    alarms: Counter[str] = Counter()
    for kind, n in session.execute(
        select(Alarm.kind, func.count()).where(Alarm.at >= start, Alarm.at < end)
        .group_by(Alarm.kind)
    ):
        alarms[kind] += n
    return DaySummary(
        day=day, start=start, end=occupancy.end, passages=sum(by_decision.values()),
        by_decision=dict(by_decision),
        by_reason={d: dict(c.most_common()) for d, c in sorted(by_reason.items())},
        entries=entries, exits=exits,
        automatic_share=automatic / entries if entries else None,
        reviews=dict(reviews.most_common()),
        guard_actions={u: dict(sorted(c.items())) for u, c in sorted(guard_actions.items())},
        logins=dict(sorted(logins.items())), alarms=dict(alarms.most_common()),
        zones=peaks_from_steps(occupancy),
    )


def peaks_from_steps(report: OccupancyDay) -> tuple[ZonePeak, ...]:
    peaks = []
    for zone in report.zones:
        peak = max(count for _, count in zone.steps)
        peak_at = next(t for t, count in zone.steps if count == peak) if peak else None
        peaks.append(ZonePeak(zone.zone, zone.name, zone.capacity, peak, peak_at))
    return tuple(peaks)


def as_text(summary: DaySummary) -> dict[str, Any]:
    """Every field, with moments as their ISO text: the same instant in another zone's offset
    would compare equal as a datetime but read differently on the page and in the JSON."""
    def text(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: text(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [text(v) for v in value]
        return value
    return text(asdict(summary))


def midnights(year: int, month: int, tz: tzinfo) -> list[datetime]:
    first = datetime(year, month, 1, tzinfo=tz)
    return [local_day_bounds((first + timedelta(days=n)).date(), tz)[0].astimezone(UTC)
            for n in range(-1, 33)]


def build_month(sessions: sessionmaker[Session], year: int, month: int, tz: tzinfo,
                rng_seed: int) -> None:
    """A month of varied history, with a day either side of it."""
    rng = random.Random(rng_seed)
    span_start = datetime(year, month, 1, tzinfo=tz).astimezone(UTC) - timedelta(days=2)
    span = timedelta(days=35)

    def moment() -> datetime:
        return span_start + timedelta(seconds=rng.randrange(int(span.total_seconds())),
                                      microseconds=rng.randrange(1_000_000))

    edges = midnights(year, month, tz)
    passages = []
    for n in range(2400):
        decision, reason = rng.choice(DECISIONS)
        direction = rng.choice(("in", "out"))
        resolution = rng.choice(RESOLUTIONS) if decision == "review" else None
        passages.append({
            # Every tenth car at exactly a local midnight: it counts on the new day.
            "at": rng.choice(edges) if n % 10 == 0 else moment(),
            "gate_id": f"gate-{direction}", "direction": direction,
            "zone_id": rng.choice(("A", "A", "B", None)), "plate": f"沪A{n:05d}",
            "decision": decision, "reason": reason, "resolution": resolution,
            "flags": list(rng.choice(FLAG_SETS)), "admission": rng.choice(ADMISSIONS),
        })
    samples: list[dict[str, Any]] = []  # rows for one INSERT
    for zone, quiet_days in (("A", {3, 4, 17}), ("B", {0, 1, 9, 10, 11})):
        occupied = 5
        # One sample long before the month: the count its first midnight starts from.
        samples.append({"at": span_start - timedelta(days=20), "zone_id": zone, "occupied": 7,
                        "capacity": 40})
        for n in range(1400):
            at = moment()
            if (at - span_start).days in quiet_days:
                continue  # days without a change: the count carries over from before
            occupied = max(0, min(45, occupied + rng.choice((-2, -1, 1, 1, 2))))
            samples.append({"at": at, "zone_id": zone, "occupied": occupied,
                            "capacity": rng.choice((40, 40, 40, 45))})
            if n % 97 == 0:  # a second change at the very same moment: the later id wins
                samples.append({"at": at, "zone_id": zone, "occupied": occupied + 3,
                                "capacity": 40})
            if n % 211 == 0:  # a change at exactly local midnight
                samples.append({"at": rng.choice(edges), "zone_id": zone, "occupied": occupied,
                                "capacity": 40})
    audit = [{"at": rng.choice(edges) if n % 15 == 0 else moment(), "username": rng.choice(USERS),
              "action": rng.choice(ACTIONS), "target": "", "details": {}}
             for n in range(600)]
    alarms = [{"at": rng.choice(edges) if n % 12 == 0 else moment(),
               "kind": rng.choice(ALARM_KINDS), "message": ""} for n in range(200)]
    with transaction(sessions) as session:
        session.add_all([Zone(id="A", name="东区地库", capacity=40),
                         Zone(id="B", name="西区地面", capacity=30),
                         Zone(id="C", name="访客", capacity=10)])  # never sampled
        session.flush()
        session.execute(insert(Passage), passages)
        # In time order, except that a few moments repeat: the ids then decide.
        session.execute(insert(OccupancySample), sorted(samples, key=lambda s: s["at"]))
        session.execute(insert(AuditEntry), audit)
        session.execute(insert(Alarm), alarms)


@pytest.mark.parametrize(("tz", "year", "month", "now"), [
    # The month still going on: 19 days and a part, the rest not begun.
    (SHANGHAI, 2026, 11, datetime(2026, 11, 20, 9, 15, tzinfo=SHANGHAI)),
    # A whole month, with the hour summer time ends (a 25-hour day).
    (BERLIN, 2026, 10, datetime(2026, 11, 3, 12, tzinfo=UTC)),
    # A month the summer hour is lost in (a 23-hour day), and it ends just now.
    (NEW_YORK, 2026, 3, datetime(2026, 3, 31, 23, 59, tzinfo=NEW_YORK)),
    # A fixed offset (tzinfo, not a ZoneInfo), whole month.
    (timezone(timedelta(hours=-3)), 2026, 2, datetime(2026, 3, 10, tzinfo=UTC)),
], ids=["shanghai-ongoing", "berlin-dst-end", "new-york-dst-start", "fixed-offset"])
def test_the_month_is_its_days_as_each_day_computed_them(
    sessions: sessionmaker[Session], tz: tzinfo, year: int, month: int, now: datetime
) -> None:
    build_month(sessions, year, month, tz, rng_seed=year * 100 + month)
    with sessions() as session:
        summary = month_summary(session, year, month, tz, now=now)
        today = now.astimezone(tz).date()
        begun = [day for day in (date(year, month, 1) + timedelta(days=n) for n in range(31))
                 if day.month == month and day <= today]
        assert [d.day for d in summary.days] == begun
        for fast in summary.days:
            before = summary_as_before(session, fast.day, tz, now)
            for field in fields(DaySummary):
                assert getattr(fast, field.name) == getattr(before, field.name), (
                    fast.day, field.name)
            assert as_text(fast) == as_text(before), fast.day
            # The day report is the same code over one day: the same again.
            alone = day_summary(session, occupancy_day(session, fast.day, tz, now=now))
            assert as_text(alone) == as_text(before), fast.day

    # The history reaches every edge it was built for, so the comparison above means something.
    days = summary.days
    assert all(d.passages for d in days)
    assert sum(d.entries for d in days) and any(
        d.automatic_share is not None and d.automatic_share < 1 for d in days)
    assert set().union(*(d.reviews for d in days)) == {
        "unresolved", "allowed_once", "denied", "visitor_pass"}
    assert {a for d in days for u in d.guard_actions.values() for a in u} >= {
        "gate.open", "passage.deny"}
    assert set().union(*(d.logins for d in days)) == {
        "auth.login", "auth.login_failed", "auth.logout"}
    assert sum(sum(d.alarms.values()) for d in days)
    peaks = [z for d in days for z in d.zones]
    assert {z.zone for z in peaks} == {"A", "B", "C"}
    assert any(z.peak_at is None for z in peaks)  # zone C, never sampled
    assert any(z.peak_at == d.start for d in days for z in d.zones if z.peak)  # full at midnight
    assert any(z.capacity == 45 for z in peaks) and any(z.capacity == 40 for z in peaks)


def test_a_month_not_begun_has_no_days_and_days_must_follow_each_other(
    sessions: sessionmaker[Session],
) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    with sessions() as session:
        assert month_summary(session, 2026, 12, SHANGHAI, now=now).days == ()
    with pytest.raises(InvalidInputError, match="not started"):
        local_days([date(2026, 11, 21)], SHANGHAI, now)
    first, _, third = (LocalDay(d, *local_day_bounds(d, SHANGHAI), now)
                       for d in (date(2026, 11, n) for n in (1, 2, 3)))
    with pytest.raises(ValueError, match="consecutive"):
        check_consecutive([first, third])
