"""Household labels (「3栋 1201」) in the offline snapshot: taken for the households a permit
names (a car's, a pass's host) and no other, written to the file without names, phones or
notes and read back, an older file without them still read, and small beside the plates for
a 2,000-household community."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controllers.offline import OfflineAccess
from controllers.policy import PassPermit, Permits, VehiclePermit
from controllers.ports import AccessSnapshot
from models.access_store import SqlAccessStore
from models.people import Household, Resident
from models.vehicles import Vehicle, VisitorPass
from services.offline_snapshot import FileAccessSnapshot

NOTE = "业主王先生 13800138000，周末常不在家"


def test_labels_of_the_households_the_permits_name_round_trip(
    sessions: Any, tmp_path: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with sessions.begin() as session:
        owner = Household(building="3栋", unit="1201", note=NOTE)
        host = Household(building="5栋", unit="302", note=NOTE)
        walk_in_host = Household(building="7栋", unit="101")
        nobody = Household(building="9栋", unit="909", note=NOTE)  # no car, no pass
        session.add_all([owner, host, walk_in_host, nobody])
        session.flush()
        resident = Resident(household_id=owner.id, name="林阿姨", phone="13912345678")
        session.add(resident)
        session.flush()
        session.add(Vehicle(plate="闽A12345", household_id=owner.id, resident_id=resident.id))
        for plate, household in (("粤B67890", host), (None, walk_in_host)):
            session.add(VisitorPass(
                plate=plate, host_household_id=household.id,
                valid_from=now - timedelta(hours=1), valid_to=now + timedelta(hours=2),
                max_uses=1,
            ))
        ids = {h.unit: h.id for h in (owner, host, walk_in_host, nobody)}

    snapshot = SqlAccessStore(sessions).snapshot(now)
    expected = {ids["1201"]: "3栋 1201", ids["302"]: "5栋 302", ids["101"]: "7栋 101"}
    assert dict(snapshot.household_labels) == expected

    file = FileAccessSnapshot(tmp_path / "offline_snapshot.json")
    assert file.save(snapshot)
    text = file.path.read_text(encoding="utf-8")
    assert "3栋 1201" in text and "5栋 302" in text
    for private in ("林阿姨", "13912345678", "13800138000", "王先生", "9栋"):
        assert private not in text, private  # PIPL: building and unit only
    loaded = file.load()
    assert loaded is not None and dict(loaded.household_labels) == expected
    gates = OfflineAccess()
    gates.load(loaded)
    assert gates.household_labels[ids["1201"]] == "3栋 1201"

    # A flat renamed is new content: written at once, not at the 10-minute rewrite.
    renamed = replace(snapshot, household_labels={**expected, ids["1201"]: "3栋 1202"})
    assert file.save(renamed)
    again = file.load()
    assert again is not None and again.household_labels[ids["1201"]] == "3栋 1202"


def test_a_file_written_before_the_labels_is_read_without_them(tmp_path: Path) -> None:
    file = FileAccessSnapshot(tmp_path / "offline_snapshot.json")
    now = datetime(2025, 5, 1, tzinfo=UTC)
    vehicle = VehiclePermit(vehicle_id=1, household_id=12, plate="闽A12345",
                            household_spaces=1, household_cars_inside=0, resident_id=None)
    assert file.save(AccessSnapshot(taken_at=now, permits={"闽A12345": Permits(vehicle=vehicle)}))
    data = json.loads(file.path.read_text(encoding="utf-8"))
    del data["households"]
    file.path.write_text(json.dumps(data), encoding="utf-8")
    loaded = file.load()
    assert loaded is not None and loaded.household_labels == {}
    assert loaded.permits["闽A12345"].vehicle == vehicle


def community(households: int = 2000, passes: int = 200) -> AccessSnapshot:
    """A large community's snapshot: 1-2 cars a household, a day's visitor passes."""
    rng = random.Random(1)
    now = datetime(2025, 5, 1, tzinfo=UTC)
    serial = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

    def plate() -> str:
        return rng.choice("京沪粤闽浙苏") + rng.choice("ABCDEF") + "".join(
            rng.choice(serial) for _ in range(5))

    permits: dict[str, Permits] = {}
    labels: dict[int, str] = {}
    for hid in range(1, households + 1):
        labels[hid] = f"{hid // 100 + 1}栋 {hid % 100 // 4 + 1:02d}{hid % 4 + 1:02d}"
        for _ in range(rng.choice((1, 1, 1, 2, 2))):
            car = plate()
            permits[car] = Permits(
                vehicle=VehiclePermit(vehicle_id=len(permits) + 1, household_id=hid, plate=car,
                              household_spaces=1, household_cars_inside=rng.randint(0, 1),
                              resident_id=len(permits) + 1),
                inside=rng.random() < 0.5,
            )
    for pass_id in range(1, passes + 1):
        car = plate()
        permits[car] = Permits(passes=(PassPermit(
            pass_id=pass_id, plate=car, household_id=rng.randint(1, households),
            valid_from=now, valid_to=now + timedelta(hours=4), max_uses=1, uses=0,
        ),))
    return AccessSnapshot(taken_at=now, permits=permits, household_labels=labels)


def test_labels_add_little_to_the_file_of_a_large_community(tmp_path: Path) -> None:
    """One map by household id, not a copy per car or pass: about 19 bytes a household
    (38 KB for 2,000), under a tenth of the 430 KB the plates of those households take."""
    snapshot = community()
    with_labels = FileAccessSnapshot(tmp_path / "with.json")
    without = FileAccessSnapshot(tmp_path / "without.json")
    assert with_labels.save(snapshot)
    assert without.save(replace(snapshot, household_labels={}))
    added = with_labels.path.stat().st_size - without.path.stat().st_size
    assert added < 25 * 2000, added
    assert added < 0.1 * without.path.stat().st_size, (added, without.path.stat().st_size)
