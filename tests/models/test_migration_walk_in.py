"""Migration 0014 makes a visitor pass's plate nullable (walk-in passes) and keeps every pass
already stored as it was."""

from __future__ import annotations

from sqlalchemy import text

from models.db import create_db_engine, migrate
from tests.models.migration_steps import upgrade_to


def test_passes_keep_their_plates_and_a_plateless_pass_can_be_stored(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_to(engine, "0013")
        insert = text(
            "INSERT INTO visitor_passes (plate, host_household_id, valid_from, valid_to, uses,"
            " note, created_by, created_at, qr_nonce, weekdays, hours_from, hours_to)"
            " VALUES (:plate, 1, '2026-01-01 00:00:00', '2026-01-02 00:00:00', 0, '', 'test',"
            " '2026-01-01 00:00:00', :nonce, :weekdays, :start, :end)"
        )
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO households (id, building, unit, spaces, note, created_at) "
                    "VALUES (1, '9栋', '101', 1, '', '2026-01-01 00:00:00')"
                )
            )
            connection.execute(
                insert,
                {
                    "plate": "粤B11111",
                    "nonce": "a" * 32,
                    "weekdays": None,
                    "start": None,
                    "end": None,
                },
            )
            connection.execute(
                insert,
                {
                    "plate": "粤B22222",
                    "nonce": "b" * 32,
                    "weekdays": "mon,fri",
                    "start": "08:00",
                    "end": "12:00",
                },
            )

        migrate(engine)

        with engine.begin() as connection:
            connection.execute(
                insert,
                {"plate": None, "nonce": "c" * 32, "weekdays": None, "start": None, "end": None},
            )
            rows = connection.execute(
                text(
                    "SELECT plate, qr_nonce, weekdays, hours_from, hours_to FROM visitor_passes"
                    " ORDER BY id"
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            ("粤B11111", "a" * 32, None, None, None),
            ("粤B22222", "b" * 32, "mon,fri", "08:00", "12:00"),
            (None, "c" * 32, None, None, None),
        ]
    finally:
        engine.dispose()
