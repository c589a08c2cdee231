"""Queries rewritten for a year of history (bench/scale.py) give what they gave before, on a
seeded community's history (bench/scale_seed.py): the day report, which counts a day's reviews
in the same grouped pass as its decisions and reasons (services/day_summary.py), and the
review queue, ordered so that the planner reads it off its index (services/review.py), and
the occupancy day, which reads its zone samples as values, not ORM rows (services/reports.py)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

import bench.scale_seed
from bench.scale import community
from bench.scale_seed import Seeded, seed
from models.db import transaction
from models.events import Passage
from models.site import OccupancySample, Zone
from services.day_summary import day_summary
from services.reports import local_day_bounds, occupancy_day
from services.review import review_queue
from services.site import sync_site
from settings import CommunityConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")
END = datetime(2026, 11, 28, 10, 30, tzinfo=UTC)


def separate_queries(session: Session, start: datetime, end: datetime
                     ) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, int]]:
    """What day_summary counted before, one query each."""
    in_day = (Passage.at >= start, Passage.at < end)
    by_decision: Counter[str] = Counter()
    by_reason: dict[str, Counter[str]] = {}
    for decision, reason, n in session.execute(
        select(Passage.decision, Passage.reason, func.count()).where(*in_day)
        .group_by(Passage.decision, Passage.reason)
    ):
        by_decision[decision] += n
        by_reason.setdefault(decision, Counter())[reason] += n
    reviews: Counter[str] = Counter()
    for resolution, n in session.execute(
        select(Passage.resolution, func.count()).where(*in_day, Passage.decision == "review")
        .group_by(Passage.resolution)
    ):
        reviews[resolution or "unresolved"] += n
    return dict(by_decision), {d: dict(c) for d, c in by_reason.items()}, dict(reviews)


@pytest.fixture
def seeded(sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> Seeded:
    # A smaller community's days: the same mix of results, in seconds on PostgreSQL too.
    monkeypatch.setattr(bench.scale_seed, "VEHICLE_PASSAGES_PER_DAY", 1500)
    monkeypatch.setattr(bench.scale_seed, "PEDESTRIAN_PASSAGES_PER_DAY", 300)
    with transaction(sessions) as session:
        sync_site(session, CommunityConfig(**community()))
    return seed(sessions, 2, end=END)


def test_each_day_counts_as_the_separate_queries_did(
    sessions: sessionmaker[Session], seeded: Seeded
) -> None:

    first = seeded.start.astimezone(SHANGHAI).date()
    with sessions() as session:
        for offset in range(3):  # a partial day on each side of a whole one
            day = first + timedelta(days=offset)
            summary = day_summary(session, occupancy_day(session, day, SHANGHAI, now=END))
            by_decision, by_reason, reviews = separate_queries(
                session, *local_day_bounds(day, SHANGHAI))
            assert summary.by_decision == by_decision, day
            assert summary.by_reason == by_reason, day
            assert summary.reviews == reviews, day
            assert summary.passages == sum(by_decision.values()) > 0
        # The history has every kind of review outcome, the last minutes' cars waiting.
        assert set(summary.reviews) >= {"allowed_once", "denied", "visitor_pass",
                                        "unresolved"}


def test_the_review_queue_lists_the_waiting_cars_as_before(
    sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    # Cars waiting at every vehicle gate, two of them at the same moment (the id decides),
    # among the seeded history's resolved reviews.
    waiting = [
        {"at": END - timedelta(minutes=m // 2), "gate_id": gate, "direction": "in",
         "zone_id": "A", "plate": f"浙K{m:05d}", "decision": "review",
         "reason": "unknown_plate", "flags": [], "details": {}}
        for m, gate in enumerate(["east-in", "west-in", "east-out", "west-out"] * 8)
    ]
    with transaction(sessions) as session:
        session.execute(insert(Passage), waiting)

    def before(session: Session, limit: int, gate: str | None) -> list[int]:
        query = select(Passage.id).where(
            Passage.decision == "review", Passage.resolution.is_(None))
        if gate:
            query = query.where(Passage.gate_id == gate)
        return list(session.scalars(query.order_by(Passage.at, Passage.id).limit(limit)))

    with sessions() as session:
        for limit, gate in [(20, None), (50, None), (5, "east-in"), (50, "west-out")]:
            queue = [p.id for p in review_queue(session, limit, gate)]
            assert queue == before(session, limit, gate), (limit, gate)
            assert queue
        assert len(review_queue(session, 50)) >= len(waiting)


def test_the_occupancy_day_steps_are_the_samples_as_before(
    sessions: sessionmaker[Session], seeded: Seeded
) -> None:
    first = seeded.start.astimezone(SHANGHAI).date()
    with sessions() as session:
        for offset in range(3):
            day = first + timedelta(days=offset)
            start, end = local_day_bounds(day, SHANGHAI)
            report = occupancy_day(session, day, SHANGHAI, now=END)
            for zone in report.zones:
                rows = session.scalars(
                    select(OccupancySample)
                    .where(OccupancySample.zone_id == zone.zone, OccupancySample.at >= start,
                           OccupancySample.at < end)
                    .order_by(OccupancySample.at, OccupancySample.id)
                ).all()
                assert rows, (day, zone.zone)
                assert zone.steps[1:] == tuple((r.at.astimezone(SHANGHAI), r.occupied)
                                               for r in rows)
                capacity = session.get(Zone, zone.zone)
                assert capacity is not None
                assert zone.capacity == max([capacity.capacity, *(r.capacity for r in rows)])
