"""A controller started during a database outage decides from the snapshot on disk plus the
moves of the passages still in its journal: only the cars that did move."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from controllers.offline import OfflineAccess
from controllers.policy import Permits, VehiclePermit
from controllers.ports import AccessSnapshot
from errors import StoreUnavailableError
from services.container import _start_offline
from services.offline_snapshot import FileAccessSnapshot
from services.passage_journal import FilePassageJournal
from tests.test_passage_journal import record

TAKEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("outcome", "inside"),
    [
        ("open", True),  # it drove in: a second entry is anti-passback
        ("pending", True),  # killed before the barrier answered: it may have moved
        ("fault", False),  # the barrier never opened: the car is still outside
    ],
)
def test_a_journalled_entry_moves_its_car_only_if_the_barrier_may_have_opened(
    tmp_path: Path, outcome: str, inside: bool, caplog: pytest.LogCaptureFixture
) -> None:
    plate = "闽AD12345"
    snapshot_file = FileAccessSnapshot(tmp_path / "offline_snapshot.json")
    permits = {plate: Permits(vehicle=VehiclePermit(
        vehicle_id=1, household_id=2, plate=plate, household_spaces=1, household_cars_inside=0
    ))}
    assert snapshot_file.save(AccessSnapshot(TAKEN, permits))
    journal = FilePassageJournal(tmp_path / "passages.jsonl")
    journal.append(record("a", plate))
    if outcome != "pending":
        journal.set_outcome("a", outcome)
    offline = OfflineAccess()
    with caplog.at_level(logging.WARNING):
        _start_offline(offline, snapshot_file, journal,
                       StoreUnavailableError("connection refused"), 5.0)
    found = offline.permits(plate)
    assert found is not None and found.inside is inside
