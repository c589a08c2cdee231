"""Migration 0017 on a database in use: the zones keep their counts and stay listed as before,
and the first start after it retires the zone the configuration no longer names (the office
merged B into A before the upgrade) while the reports of the days before still list it."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from models.access_store import availability
from models.db import create_db_engine, make_session_factory, migrate, transaction
from services.reports import occupancy_day
from services.site import sync_site
from settings import CommunityConfig
from tests.models.migration_steps import upgrade_to

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_zones_in_use_keep_their_counts_and_the_next_start_retires_the_unconfigured(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_to(engine, "0016")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO zones (id, name, capacity, occupied, updated_at) VALUES "
                "('A', 'A区', 40, 6, '2026-11-20 02:00:00'), "
                "('B', 'B区', 20, 3, '2026-11-20 03:00:00')"
            ))
            connection.execute(text(
                "INSERT INTO occupancy_samples (at, zone_id, occupied, capacity) VALUES "
                "('2026-11-20 02:00:00', 'A', 6, 40), ('2026-11-20 03:00:00', 'B', 3, 20)"
            ))

        migrate(engine)

        sessions = make_session_factory(engine)
        with sessions() as session:
            before = availability(session)
            day = occupancy_day(session, date(2026, 11, 21), SHANGHAI)
        assert [(z["id"], z["free"]) for z in before["zones"]] == [("A", 34), ("B", 17)]
        assert [z.zone for z in day.zones] == ["A", "B"]

        community = CommunityConfig.model_validate({
            "name": "t", "zones": [{"id": "A", "capacity": 60}],
            "gates": [{"id": "a-in", "kind": "vehicle", "direction": "in", "zone": "A"}],
        })
        with (
            caplog.at_level(logging.WARNING, logger="services.site"),
            transaction(sessions) as session,
        ):
            sync_site(session, community, now=datetime(2026, 11, 25, 4, tzinfo=UTC))
        said = [r.getMessage() for r in caplog.records if r.name == "services.site"]
        assert len(said) == 1 and "zone B" in said[0] and "3 car(s)" in said[0], said

        with sessions() as session:
            after = availability(session)
            listed = {
                day: [z.zone for z in occupancy_day(session, date(2026, 11, day), SHANGHAI).zones]
                for day in (21, 25, 26)
            }
        assert [(z["id"], z["free"]) for z in after["zones"]] == [("A", 54)]
        assert listed == {21: ["A", "B"], 25: ["A", "B"], 26: ["A"]}
    finally:
        engine.dispose()
