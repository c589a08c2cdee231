"""Migration 0006: passages that never drove the barrier read 'closed', so 'pending' is left
only on passages a crash interrupted (allowed, committed, no barrier answer)."""

from __future__ import annotations

from sqlalchemy import text

from models.db import create_db_engine, migrate
from tests.models.migration_steps import upgrade_to

ROWS = [  # (decision, resolution, outcome before) -> outcome after
    ("deny", None, "pending", "closed"),
    ("review", None, "pending", "closed"),
    ("review", "denied", "pending", "closed"),
    ("review", "allowed_once", "pending", "pending"),  # allowed, then a crash: still pending
    ("review", "allowed_once", "opening", "opening"),
    ("allow", None, "pending", "pending"),  # the crash-interrupted passage
    ("allow", None, "open", "open"),
]


def test_never_driven_passages_are_closed_and_interrupted_ones_stay_pending(
    database_url: str,
) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_to(engine, "0005")
        with engine.begin() as connection:
            for n, (decision, resolution, before, _after) in enumerate(ROWS, 1):
                connection.execute(text(
                    "INSERT INTO passages (id, at, gate_id, direction, confidence, plate_color,"
                    " match_distance, decision, reason, credential, flags, barrier_outcome,"
                    " details, resolution) VALUES (:id, '2026-01-01 00:00:00', 'main-in', 'in',"
                    " 0.9, 'blue', 0, :decision, 'unknown_plate', 'plate', '[]', :outcome, '{}',"
                    " :resolution)"
                ), {"id": n, "decision": decision, "outcome": before, "resolution": resolution})

        migrate(engine)

        with engine.connect() as connection:
            after = list(connection.scalars(
                text("SELECT barrier_outcome FROM passages ORDER BY id")
            ))
        assert after == [row[3] for row in ROWS]
    finally:
        engine.dispose()
