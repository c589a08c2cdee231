"""A zone's capacity lowered below its count cuts the count at start, with a sample and a
warning that say what was cut.

The cut used to be written without a sample: the reports kept drawing the old count until
the next car moved it (all day on a quiet day), and nothing in the log said that cars still
parked there were no longer counted.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.db import transaction
from models.site import OccupancySample, Zone
from services.reports import occupancy_day
from services.site import sync_site
from settings import CommunityConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(hour: int) -> datetime:
    return datetime(2026, 11, 20, hour, tzinfo=SHANGHAI).astimezone(UTC)


def sync(sessions: sessionmaker[Session], capacity: int, now: datetime) -> None:
    community = CommunityConfig.model_validate({
        "name": "t",
        "zones": [{"id": "A", "name": "A区", "capacity": capacity}],
        "gates": [{"id": "a-in", "kind": "vehicle", "direction": "in", "zone": "A"}],
    })
    with transaction(sessions) as session:
        sync_site(session, community, now=now)


def count_to(sessions: sessionmaker[Session], occupied: int, at: datetime) -> None:
    with transaction(sessions) as session:
        zone = session.get(Zone, "A")
        assert zone is not None
        zone.occupied = occupied
        session.add(OccupancySample(at=at, zone_id="A", occupied=occupied,
                                    capacity=zone.capacity))


def samples(sessions: sessionmaker[Session]) -> list[tuple[int, int]]:
    with sessions() as session:
        return [(s.occupied, s.capacity) for s in session.scalars(
            select(OccupancySample).order_by(OccupancySample.at, OccupancySample.id)
        )]


def test_a_capacity_lowered_below_the_count_is_sampled_and_said(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    sync(sessions, 40, local(7))
    count_to(sessions, 35, local(8))
    with caplog.at_level(logging.INFO, logger="services.site"):
        sync(sessions, 30, local(12))  # the office gave 10 spaces to the charging station

    assert samples(sessions) == [(35, 40), (30, 30)]
    warned = [r.getMessage() for r in caplog.records
              if r.name == "services.site" and r.levelno == logging.WARNING]
    assert warned == [
        "zone A count cut from 35 to 30, its new capacity: 5 car(s) counted in it are no "
        "longer counted (correct the count if they are still parked there)"
    ]
    with sessions() as session:
        (zone,) = occupancy_day(session, date(2026, 11, 20), SHANGHAI, now=local(18)).zones
    # The day's line drops at noon, where the count did.
    assert [(at.hour, count) for at, count in zone.steps] == [(0, 0), (8, 35), (12, 30)]

    # Raised, then lowered to what the count still fits: nothing cut, no sample, no warning.
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="services.site"):
        sync(sessions, 32, local(13))
        sync(sessions, 31, local(14))
    assert samples(sessions) == [(35, 40), (30, 30)]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
