"""A look-alike plate search over the most passages it reads (SIMILAR_SCAN) stays cheap on
the controller that also decides the cars: it took about 5 s of CPU a page on the
development box (every row loaded whole, the same residents' plates compared on every one of
their passages), for any guard who clicks through the history. The work is counted, not
timed: each distinct plate is compared once, and only the page's rows are loaded whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

import services.passage_search
from models.db import transaction
from models.events import Passage
from services.passage_search import SIMILAR_SCAN, PassageQuery, search_passages

# A busy month of a large community: the same few hundred cars come and go every day.
RESIDENT_CARS = 400
START = datetime(2026, 10, 1, tzinfo=UTC)



def plate(car: int) -> str:
    return f"闽A{10000 + car * 7:05d}"


def test_a_full_look_alike_scan_is_cheap_and_finds_the_misreads(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        {"at": START + timedelta(seconds=50 * i), "gate_id": "main-in", "direction": "in",
         "zone_id": "A", "plate": plate(i % RESIDENT_CARS), "confidence": 0.9,
         "decision": "allow", "reason": "resident", "flags": []}
        for i in range(SIMILAR_SCAN)
    ]
    wanted = plate(3)  # 闽A10021
    # 50 s after the last row.
    misread = {**rows[-1], "at": START + timedelta(seconds=50 * SIMILAR_SCAN), "plate": "闽A1OO21",
               "decision": "review", "reason": "unknown_plate"}
    with transaction(sessions) as session:
        for first in range(0, len(rows), 5000):
            session.execute(insert(Passage), rows[first:first + 5000])
        session.execute(insert(Passage), [misread])

    comparisons = 0
    real_distance = services.passage_search.plate_distance

    def counted(*args: Any, **kwargs: Any) -> int:
        nonlocal comparisons
        comparisons += 1
        return real_distance(*args, **kwargs)

    monkeypatch.setattr(services.passage_search, "plate_distance", counted)
    query = PassageQuery(plate=wanted, similar=True)
    with sessions() as session:
        found = search_passages(session, query, limit=50, offset=0)
        whole_rows = [p for p in session.identity_map.values() if isinstance(p, Passage)]

    # Each distinct plate once (the cars and the misread), not once per passage (50,000).
    assert comparisons == RESIDENT_CARS + 1, comparisons
    assert len(whole_rows) == 50  # the page, not the window
    assert found.scan_capped  # one passage more than it reads
    assert found.rows[0].plate == "闽A1OO21"  # the misread, newest first
    assert [p.at for p in found.rows] == sorted((p.at for p in found.rows), reverse=True)
    assert len(found.rows) == 50
    # Every passage of the car itself among the newest SIMILAR_SCAN (the oldest one, the
    # first inserted, is past the scan), besides its one-character neighbours.
    own = sum(1 for i in range(1, SIMILAR_SCAN) if i % RESIDENT_CARS == 3)
    assert found.total > own
