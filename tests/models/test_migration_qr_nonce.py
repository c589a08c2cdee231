"""Migration 0003 gives every pass already stored a QR nonce of its own.

A shared value (a server default) would make the passes' codes depend on the id alone again,
which is the defect the nonce fixes.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from models.db import create_db_engine, migrate
from tests.models.migration_steps import upgrade_to


def test_existing_passes_each_get_their_own_nonce(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_to(engine, "0002")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO households (id, building, unit, spaces, note, created_at) "
                "VALUES (1, '9栋', '101', 1, '', '2026-01-01 00:00:00')"
            ))
            for plate in ("粤B11111", "粤B22222", "粤B33333"):
                connection.execute(text(
                    "INSERT INTO visitor_passes (plate, host_household_id, valid_from, valid_to,"
                    " uses, note, created_by, created_at) VALUES (:plate, 1,"
                    " '2026-01-01 00:00:00', '2026-01-02 00:00:00', 0, '', 'test',"
                    " '2026-01-01 00:00:00')"
                ), {"plate": plate})

        migrate(engine)

        with engine.connect() as connection:
            nonces = list(connection.scalars(text("SELECT qr_nonce FROM visitor_passes")))
        assert len(nonces) == 3
        assert all(re.fullmatch(r"[0-9a-f]{32}", n) for n in nonces), nonces
        assert len(set(nonces)) == 3
    finally:
        engine.dispose()
