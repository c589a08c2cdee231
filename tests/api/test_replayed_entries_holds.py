"""Passages written from the offline journal do not hold spaces for cars parked long ago.

When the database comes back, every journalled entry is published as a passage; a guidance
hold for an entry minutes old only keeps a space from the next driver (the audit saw one
hold, and one log line, per replayed entry). Entries still within the hold window keep
getting one: that car may still be looking for its space.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from controllers.ports import PassageRecord
from controllers.values import AccessDecision, Credential, Direction, Reason, Sighting, Verdict
from services.passage_journal import FilePassageJournal
from tests.api.test_database_outage import FAST, recorded, wait_for
from tests.api.test_parking import all_free
from tests.conftest import add_user


def resident(client: Any, admin: dict[str, str], plate: str) -> tuple[int, int]:
    hid = client.post("/api/v1/households", json={"building": "5", "unit": plate[-3:]},
                      headers=admin).json()["id"]
    vehicle = client.post("/api/v1/vehicles", json={"plate": plate, "household_id": hid},
                          headers=admin)
    assert vehicle.status_code == 201, vehicle.text
    return hid, vehicle.json()["id"]


def journalled_entry(plate: str, ids: tuple[int, int], at: datetime) -> PassageRecord:
    hid, vid = ids
    decision = AccessDecision(Verdict.ALLOW, Reason.RESIDENT, Credential.PLATE,
                              flags=("offline",), vehicle_id=vid, household_id=hid)
    return PassageRecord("main-in", Direction.IN, "B", Sighting("main-in", at, plate, 0.97),
                         decision, None, journal_id=f"entry-{plate[-3:]}")


def test_only_entries_within_the_hold_window_get_a_hold_when_replayed(
    app_factory: Any,
) -> None:
    client = app_factory(**FAST)
    admin = {"Authorization": f"Bearer {add_user(client, 'admin', 'admin')}"}
    parked, arriving = "闽A10111", "闽A10222"
    parked_ids, arriving_ids = resident(client, admin, parked), resident(client, admin, arriving)
    all_free(client)
    services = client.app.state.services
    parking = services.parking
    now = datetime.now(UTC)
    journal = FilePassageJournal(services.settings.data_dir / "journal" / "passages.jsonl")

    journal.append(journalled_entry(parked, parked_ids, now - timedelta(minutes=10)))
    journal.append(journalled_entry(arriving, arriving_ids, now - timedelta(seconds=30)))
    wait_for(lambda: recorded(client, admin) == 2)

    deadline = time.monotonic() + 5
    while not any(h.holder == arriving for h in parking.holds.active(datetime.now(UTC))):
        assert time.monotonic() < deadline, "the car that just came in got no hold"
        time.sleep(0.05)
    time.sleep(0.3)  # the parked car's event was handled first; give it every chance
    holders = {h.holder for h in parking.holds.active(datetime.now(UTC))}
    assert holders == {arriving}
    assert parking.auto_holds == 1
