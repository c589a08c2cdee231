"""Visitor passes that ended long ago stay on file (retention keeps them a year) but no longer
weigh on every car: they are not near-read candidates and not in the outage snapshot. A car
whose pass ended yesterday is still told so; a pass whose car is still inside stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from models.access_store import ENDED_PASS_HORIZON, SqlAccessStore
from models.db import transaction
from models.people import Household
from models.vehicles import Presence, VisitorPass

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
LONG_AGO = "粤B11111"  # ended beyond the horizon
YESTERDAY = "粤B22222"  # ended a day ago
STILL_INSIDE = "粤B33333"  # ended long ago, its car never left


def add_passes(sessions: Any) -> None:
    with transaction(sessions) as session:
        host = Household(building="3栋", unit="1201")
        session.add(host)
        session.flush()
        ended = {LONG_AGO: NOW - ENDED_PASS_HORIZON - timedelta(days=1),
                 YESTERDAY: NOW - timedelta(days=1),
                 STILL_INSIDE: NOW - ENDED_PASS_HORIZON - timedelta(days=30)}
        for plate, valid_to in ended.items():
            session.add(VisitorPass(plate=plate, host_household_id=host.id,
                                    valid_from=valid_to - timedelta(days=1), valid_to=valid_to))
        session.add(Presence(plate=STILL_INSIDE, household_id=host.id,
                             entered_at=NOW - timedelta(days=40)))


def test_the_outage_snapshot_leaves_out_passes_that_ended_long_ago(sessions: Any) -> None:
    add_passes(sessions)
    snapshot = SqlAccessStore(sessions).snapshot(NOW)
    with_passes = {plate for plate, permits in snapshot.permits.items() if permits.passes}
    assert with_passes == {YESTERDAY, STILL_INSIDE}


def test_a_near_read_is_matched_to_a_recent_pass_not_to_one_that_ended_long_ago(
    sessions: Any,
) -> None:
    add_passes(sessions)
    store = SqlAccessStore(sessions, max_distance=1)
    with store.unit() as unit:
        recent = unit.permits("粤B2222Z", NOW)  # 2 read as Z on yesterday's pass
        old = unit.permits("粤B11117", NOW)  # 1 read as 7 on the long-ended one
        exact = unit.permits(LONG_AGO, NOW)
    assert recent.matched_plate == YESTERDAY and recent.passes
    assert old.matched_plate is None and not old.passes
    # Its own plate still finds it: the guard is told the pass expired.
    assert exact.passes and exact.passes[0].valid_to < NOW
