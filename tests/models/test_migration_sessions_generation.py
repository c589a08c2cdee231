"""Migration 0015 gives every staff account a sessions generation of 0, whose password stamp
is the one tokens carried before it: nobody is logged out by the upgrade."""

from __future__ import annotations

from sqlalchemy import text

from models.db import create_db_engine, migrate
from services.known_staff import KnownAccount
from tests.models.migration_steps import upgrade_to

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def test_accounts_start_at_generation_0_and_keep_their_stamp(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_to(engine, "0014")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO users (username, username_key, password_hash, role, active, "
                "created_at) VALUES ('guard1', 'guard1', :hash, 'guard', :active, "
                "'2026-01-01 00:00:00')"
            ), {"hash": HASH, "active": True})

        migrate(engine)

        with engine.begin() as connection:
            generation = connection.execute(
                text("SELECT sessions_generation FROM users WHERE username = 'guard1'")
            ).scalar_one()
        assert generation == 0
        # The stamp of the hash alone, as tokens issued before the upgrade carry it.
        import hashlib

        assert KnownAccount("guard1", "guard", HASH, generation).stamp == (
            hashlib.sha256(HASH.encode()).hexdigest()[:16]
        )
    finally:
        engine.dispose()
