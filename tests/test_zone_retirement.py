"""A zone taken out of the configuration is retired: kept in history, gone from availability,
its count not carried on; named again it comes back; one added later is not on earlier days.

The property office merges zone B into A: B's gates now count into A, and cars B counted are
still parked. Before, B stayed in the availability API, the city feed and every report with
the count it had left (drawn all day, the month's "fullest zone"), and the exit of a car B
counted took it off A, which never counted it in.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import Direction, Sighting
from models.access_store import SqlAccessStore, availability
from models.db import transaction
from models.events import Alarm
from models.people import Household
from models.site import OccupancySample, Zone
from models.vehicles import Presence, Vehicle
from services.day_summary import day_summary
from services.month_summary import fullest_zone, month_summary
from services.reports import occupancy_day
from services.site import sync_site
from settings import CommunityConfig

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


def community(*zones: str) -> CommunityConfig:
    """Zones of 40 spaces, each with an entry and an exit gate (``a-in``, ``a-out``…)."""
    return CommunityConfig.model_validate({
        "name": "t",
        "zones": [{"id": z, "name": f"{z}区", "capacity": 40} for z in zones],
        "gates": [
            {"id": f"{z.lower()}-{d}", "kind": "vehicle", "direction": d, "zone": z}
            for z in zones for d in ("in", "out")
        ],
    })


def sync(sessions: sessionmaker[Session], *zones: str, now: datetime | None = None) -> None:
    with transaction(sessions) as session:
        sync_site(session, community(*zones), now=now)


def zone(sessions: sessionmaker[Session], zone_id: str) -> Zone:
    with sessions() as session:
        found = session.get(Zone, zone_id)
        assert found is not None
        session.expunge(found)
        return found


def set_count(sessions: sessionmaker[Session], zone_id: str, occupied: int, at: datetime
              ) -> None:
    with transaction(sessions) as session:
        found = session.get(Zone, zone_id)
        assert found is not None
        found.occupied = occupied
        session.add(OccupancySample(at=at, zone_id=zone_id, occupied=occupied, capacity=40))


def warnings_of_site(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "services.site" and r.levelno == logging.WARNING]


def test_a_zone_no_longer_configured_leaves_availability_and_its_count_with_one_warning(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    sync(sessions, "A", "B")
    set_count(sessions, "A", 4, datetime.now(UTC))
    set_count(sessions, "B", 7, datetime.now(UTC))

    with caplog.at_level(logging.INFO, logger="services.site"):
        sync(sessions, "A")
        sync(sessions, "A")  # every start syncs: retired once, said once

    said = warnings_of_site(caplog)
    assert len(said) == 1 and "zone B" in said[0] and "7 car(s)" in said[0], said
    with sessions() as session:
        offered = availability(session)
    assert [z["id"] for z in offered["zones"]] == ["A"]
    assert (offered["total_capacity"], offered["total_free"]) == (40, 36)
    retired = zone(sessions, "B")  # kept: passages and reports name it
    assert retired.retired_at is not None and retired.occupied == 0
    with sessions() as session:
        last = session.scalars(select(OccupancySample).where(OccupancySample.zone_id == "B")
                               .order_by(OccupancySample.id.desc()).limit(1)).one()
    assert last.occupied == 0  # the reports' line ends at the retirement


def runtime_for(sessions: sessionmaker[Session], *zones: str) -> GateRuntime:
    gates = {
        f"{z.lower()}-{d}": GateContext(f"{z.lower()}-{d}", Direction(d), z)
        for z in zones for d in ("in", "out")
    }
    return GateRuntime(store=SqlAccessStore(sessions), gates=gates, barriers={},
                       policy=AccessPolicy(), bus=EventBus())


def register(sessions: sessionmaker[Session], *plates: str) -> None:
    with transaction(sessions) as session:
        for plate in plates:
            household = Household(building="3", unit=plate[-3:], spaces=1)
            session.add(household)
            session.flush()
            session.add(Vehicle(plate=plate, household_id=household.id))


def pass_gate(runtime: GateRuntime, gate: str, plate: str) -> str:
    async def run() -> str:
        runtime._bus.bind(asyncio.get_running_loop())
        result = await runtime.handle_sighting(Sighting(gate, datetime.now(UTC), plate, 0.97))
        return str(result.decision.verdict.value)

    return asyncio.run(run())


def test_a_car_a_retired_zone_counted_leaves_by_the_merged_zone_s_gate_uncounted(
    sessions: sessionmaker[Session],
) -> None:
    register(sessions, "闽A10001", "闽A10002", "闽A10003")
    sync(sessions, "A", "B")
    before = runtime_for(sessions, "A", "B")
    assert pass_gate(before, "b-in", "闽A10001") == "allow"  # counted in B
    assert pass_gate(before, "a-in", "闽A10002") == "allow"  # counted in A

    sync(sessions, "A")  # B merged into A: B's gates now count into A
    after = runtime_for(sessions, "A")
    assert pass_gate(after, "a-out", "闽A10001") == "allow"
    # A never counted it in; B's count was dropped when B was retired.
    assert (zone(sessions, "A").occupied, zone(sessions, "B").occupied) == (1, 0)
    assert pass_gate(after, "a-out", "闽A10002") == "allow"
    assert zone(sessions, "A").occupied == 0

    # A passage at B's old gate written back from the journal after B was retired (decided
    # offline before the restart): recorded, but the retired count stays at 0.
    assert pass_gate(before, "b-in", "闽A10003") == "allow"
    assert zone(sessions, "B").occupied == 0
    with sessions() as session:
        assert not list(session.scalars(
            select(Alarm.kind).where(Alarm.kind.like("occupancy_%"))
        ))


def test_a_zone_configured_again_comes_back_counting_the_cars_recorded_inside_it(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    sync(sessions, "A", "B")
    set_count(sessions, "B", 5, datetime.now(UTC))  # three cars from before parkgate
    with transaction(sessions) as session:
        for plate in ("闽A20001", "闽A20002"):
            session.add(Presence(plate=plate, zone_id="B"))
    sync(sessions, "A")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="services.site"):
        sync(sessions, "A", "B")

    back = zone(sessions, "B")
    assert (back.retired_at, back.occupied) == (None, 2)
    assert not warnings_of_site(caplog)
    with sessions() as session:
        assert [z["id"] for z in availability(session)["zones"]] == ["A", "B"]


def test_reports_list_a_zone_only_on_the_days_it_was_configured(
    sessions: sessionmaker[Session],
) -> None:
    """B merged away on the 12th with 3 cars counted, C added that day, B back on the 14th."""
    sync(sessions, "A", "B", now=local(10, 8))  # the database's first start
    set_count(sessions, "A", 2, local(10, 9))
    set_count(sessions, "B", 3, local(10, 18))
    sync(sessions, "A", "C", now=local(12, 10))
    sync(sessions, "A", "B", "C", now=local(14, 10))
    now = local(15, 12)

    def listed(day: int) -> dict[str, list[int]]:
        with sessions() as session:
            report = occupancy_day(session, date(2026, 11, day), SHANGHAI, now=now)
            summary = day_summary(session, report)
        # The figures' zone peaks list the zones the chart draws.
        assert [z.zone for z in summary.zones] == [z.zone for z in report.zones]
        return {z.zone: [count for _, count in z.steps] for z in report.zones}

    assert listed(10) == {"A": [0, 2], "B": [0, 3]}  # configured from the start
    assert listed(11) == {"A": [2], "B": [3]}
    assert listed(12) == {"A": [2], "B": [3, 0], "C": [0]}  # B to 0 when retired
    assert listed(13) == {"A": [2], "C": [0]}
    assert listed(14) == {"A": [2], "B": [0], "C": [0]}  # back, no car recorded inside
    with sessions() as session:
        month = month_summary(session, 2026, 11, SHANGHAI, now=now)
    fullest = {d.day.day: fullest_zone(d) for d in month.days}
    assert fullest[13] == ("A", 2, 40)  # not B's 3 cars, carried on after it was gone
    listed_on = {d.day.day: [z.zone for z in d.zones] for d in month.days}
    # A and B were there when the database started, for all of its history; C from the 12th.
    assert listed_on[1] == listed_on[11] == ["A", "B"]
    assert listed_on[13] == ["A", "C"]
