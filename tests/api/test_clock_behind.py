"""A controller whose system clock reads too early (a board without a real-time clock after a
power cut, NTP out of reach) keeps its records where they belong.

Walked first with the demo under libfaketime at 2000-01-01: the cars were recorded in 2000,
and at the next start with the clock right, retention anonymised those passages (a blocked
car's plate among them) and deleted their snapshots as 26 years old. Here the system clock is
the test's (wall_clock.CLOCK with a system clock the test sets); the database, the snapshots
on disk, the retention code and the API are the real ones.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

import wall_clock
from models.db import transaction
from models.events import Passage
from models.people import Household
from models.vehicles import Vehicle
from services.camera_pipeline import CameraPipeline
from services.clock_watch import CLOCK_FILE
from services.container import build_services
from services.passage_retention import forget_old_passages
from settings import CameraConfig
from tests.api.test_database_outage import RESIDENT, push
from tests.api.test_vehicle_entry import register_resident_car
from tests.conftest import add_user, services_of, wait_until
from vision.plate_render import render_gate_scene, render_plate
from vision.sources import SyntheticSource
from vision.types import PlateColor
from vision.voting import PlateVoter

LAST_SEEN = datetime(2026, 11, 30, 19, 33, tzinfo=UTC)
RESET = datetime(2000, 1, 1, 8, 0, tzinfo=UTC)


class SystemClock:
    """What the board's clock reads; the monotonic clock is the real one."""

    def __init__(self, reads: datetime) -> None:
        self.reads = reads

    def __call__(self) -> datetime:
        return self.reads


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch) -> Iterator[SystemClock]:
    system = SystemClock(RESET)
    monkeypatch.setattr(wall_clock, "CLOCK", wall_clock.WallClock(system=system))
    yield system


def start_after_power_cut(app_factory: Any, tmp_path: Path) -> Any:
    data_dir = tmp_path / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    # What the controller wrote a minute before the power went.
    (data_dir / CLOCK_FILE).write_text(LAST_SEEN.isoformat(), encoding="ascii")
    return app_factory()


def test_cars_recorded_while_the_clock_is_behind_keep_their_records_once_it_is_set(
    app_factory: Any, tmp_path: Path, board: SystemClock
) -> None:
    client = start_after_power_cut(app_factory, tmp_path)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)

    answer = push(client, "main-in", RESIDENT)
    assert answer.status_code == 200, answer.text
    assert answer.json()["decision"] == "allow"
    passage = client.get(f"/api/v1/passages/{answer.json()['passage_id']}", headers=admin).json()
    at = datetime.fromisoformat(passage["at"])
    # Where it belongs (the last time seen, on by how long the box was off), not in 2000.
    assert LAST_SEEN <= at < LAST_SEEN + timedelta(minutes=10), passage["at"]
    assert "clock_held" in passage["flags"]

    # The guards and the supervisor are told.
    health = client.get("/healthz").json()
    assert health["status"] == "degraded"
    assert health["clock"]["in_step"] is False
    assert health["clock"]["system"].startswith("2000-01-01")
    metrics = client.get("/metrics", headers=admin).text
    behind = next(line for line in metrics.splitlines()
                  if line.startswith("parkgate_clock_behind_seconds "))
    assert float(behind.split()[1]) > 26 * 365 * 86400

    def alarmed() -> bool:
        alarms = client.get("/api/v1/alarms", params={"kind": "clock_behind"}, headers=admin)
        return alarms.status_code == 200 and alarms.json()["total"] == 1
    wait_until(alarmed, 10, "the clock_behind alarm")

    # NTP reaches the box a day later: retention and snapshot retention run as every hour.
    board.reads = LAST_SEEN + timedelta(days=1)
    services = services_of(client)
    forgotten = forget_old_passages(services.sessions, 365)
    assert not forgotten.passages
    with services.sessions() as session:
        row = session.get(Passage, answer.json()["passage_id"])
        assert row is not None and row.snapshot_path is not None
        snapshot = services.snapshots.root / row.snapshot_path
    assert abs(os.stat(snapshot).st_mtime - at.timestamp()) < 1
    services.snapshots.purge_older_than(30)
    assert snapshot.is_file()
    kept = client.get(f"/api/v1/passages/{answer.json()['passage_id']}", headers=admin).json()
    assert kept["plate"] == RESIDENT
    assert "anonymised" not in kept["flags"]
    health = client.get("/healthz").json()
    assert health["clock"]["in_step"] is True
    assert health["status"] == "ok"
    assert "parkgate_clock_behind_seconds 0.0" in client.get("/metrics", headers=admin).text


def test_a_clock_in_step_changes_nothing(
    app_factory: Any, tmp_path: Path, board: SystemClock
) -> None:
    board.reads = LAST_SEEN + timedelta(hours=3)
    client = start_after_power_cut(app_factory, tmp_path)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)
    answer = push(client, "main-in", RESIDENT)
    passage = client.get(f"/api/v1/passages/{answer.json()['passage_id']}", headers=admin).json()
    assert datetime.fromisoformat(passage["at"]) == board.reads
    assert "clock_held" not in passage["flags"]
    assert client.get("/healthz").json()["clock"]["in_step"] is True
    # The time seen is saved for the next start.
    saved = (tmp_path / "data" / CLOCK_FILE).read_text(encoding="ascii")
    assert datetime.fromisoformat(saved) >= board.reads


def test_a_camera_read_car_is_stamped_by_the_held_clock(
    make_settings: Any, plate_recognizer: Any, tmp_path: Path, board: SystemClock
) -> None:
    settings = make_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / CLOCK_FILE).write_text(LAST_SEEN.isoformat(), encoding="ascii")
    services = build_services(settings, recognizer=plate_recognizer)
    with transaction(services.sessions) as session:
        household = Household(building="5栋", unit="302")
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=RESIDENT, household_id=household.id))
    rng = random.Random(5)
    plate = render_plate(RESIDENT, PlateColor.BLUE)

    def camera() -> Iterator[np.ndarray | None]:
        for i in range(6):
            yield render_gate_scene(plate, rng, approach=0.5 + 0.1 * i)
        while True:
            yield None

    pipeline = CameraPipeline.from_services(services, voter=PlateVoter(min_reads=3))
    worker = pipeline.worker(
        "main-in", SyntheticSource(camera), CameraConfig(source="synthetic", fps=20)
    )
    services.background.append(worker)

    async def scenario() -> None:
        await services.start()
        try:
            deadline = time.monotonic() + 20
            while not _passages(services) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            await services.stop()

    asyncio.run(scenario())
    services.engine.dispose()
    (passage,) = _passages(services)
    assert LAST_SEEN <= passage.at < LAST_SEEN + timedelta(minutes=10), passage.at
    assert "clock_held" in passage.flags


def _passages(services: Any) -> list[Passage]:
    with services.sessions() as session:
        return list(session.scalars(select(Passage)))


def test_a_clock_that_jumps_years_ahead_removes_nothing_for_a_day(
    app_factory: Any, tmp_path: Path, board: SystemClock
) -> None:
    """A clock module reading two years ahead: retention would have anonymised every passage
    and deleted every snapshot within the hour. It is paused while the clock is doubted."""
    board.reads = LAST_SEEN
    client = start_after_power_cut(app_factory, tmp_path)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    register_resident_car(client, admin, RESIDENT)
    passage_id = push(client, "main-in", RESIDENT).json()["passage_id"]
    services = services_of(client)
    assert services.clock is not None

    board.reads = LAST_SEEN + timedelta(days=800)
    client.portal.call(services.clock.check)
    client.portal.call(services.retention_pass)
    kept = client.get(f"/api/v1/passages/{passage_id}", headers=admin).json()
    assert kept["plate"] == RESIDENT and "anonymised" not in kept["flags"]
    health = client.get("/healthz").json()
    assert health["clock"]["in_step"] is False and health["status"] == "degraded"

    def alarmed() -> bool:
        alarms = client.get("/api/v1/alarms", params={"kind": "clock_ahead"}, headers=admin)
        return alarms.status_code == 200 and alarms.json()["total"] == 1
    wait_until(alarmed, 10, "the clock_ahead alarm")

    board.reads = LAST_SEEN + timedelta(hours=1)  # set right within the day
    client.portal.call(services.clock.check)
    client.portal.call(services.retention_pass)
    assert client.get("/healthz").json()["clock"]["in_step"] is True
    assert client.get(f"/api/v1/passages/{passage_id}", headers=admin).json()["plate"] == RESIDENT
