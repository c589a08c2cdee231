"""A car does not wait at the barrier for a lock someone else holds (SQLite's 10 s busy time-out,
PostgreSQL's unbounded lock wait); an admin's write still waits it out.

The lock is real: on SQLite a second connection holds ``BEGIN EXCLUSIVE`` on the file, as a
bulk import, a backup tool or a stuck process would; on PostgreSQL a second connection keeps
the zone's row locked in an open transaction, as a session left idle in one would.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, QueuePool, select, text, update

from controllers.values import Sighting, Verdict
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.events import Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Vehicle
from tests.journal_runtime import journalled_runtime

LOCK_S = 4.0


def idle_connections(engine: Engine) -> list[Connection]:
    """Every connection the engine's pool keeps idle, checked out."""
    pool = engine.pool
    assert isinstance(pool, QueuePool)  # the product's engines, SQLite files included
    return [engine.connect() for _ in range(pool.checkedin())]


def hold_lock(path: Path, seconds: float, locked: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    locked.set()
    time.sleep(seconds)
    connection.execute("ROLLBACK")
    connection.close()


def test_a_gate_gives_up_on_a_lock_quickly_and_an_admin_write_waits_it_out(
    tmp_path: Path,
) -> None:
    path = tmp_path / "parkgate.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
    runtime = journalled_runtime(sessions, tmp_path)
    locked = threading.Event()
    locker = threading.Thread(target=hold_lock, args=(path, LOCK_S, locked))
    locker.start()
    assert locked.wait(5)
    admin_done: list[float] = []

    def admin_write() -> None:
        started = time.monotonic()
        with transaction(sessions) as session:
            session.add(Household(building="3栋", unit="1201"))
        admin_done.append(time.monotonic() - started)

    admin = threading.Thread(target=admin_write)
    admin.start()

    async def car() -> tuple[float, str | None]:
        runtime._bus.bind(asyncio.get_running_loop())
        started = time.monotonic()
        result = await runtime.handle_sighting(
            Sighting("main-in", datetime.now(UTC), "闽A12345", 0.95)
        )
        return time.monotonic() - started, result.journal_id

    try:
        waited, journal_id = asyncio.run(car())
        admin.join(15)
        locker.join(15)
        assert journal_id is not None, "the car should have been decided offline"
        assert waited < 2.5, f"the car waited {waited:.1f} s for the lock"
        assert admin_done and admin_done[0] >= LOCK_S - 1.0  # waited, then wrote
        with sessions() as session:
            assert session.query(Household).count() == 1
        # The connection the gate used has the long time-out again for the next writer.
        pooled = idle_connections(engine)
        assert [c.exec_driver_sql("PRAGMA busy_timeout").scalar() for c in pooled] == [
            10_000
        ] * len(pooled)
        for connection in pooled:
            connection.close()
    finally:
        engine.dispose()


def hold_zone_row(engine: Engine, seconds: float, locked: threading.Event) -> None:
    """A transaction that has changed zone A and neither commits nor rolls back for a while."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        assert database is not None
        hold_lock(Path(database), seconds, locked)
        return
    with engine.connect() as connection, connection.begin():
        connection.execute(text("UPDATE zones SET name = name WHERE id = 'A'"))
        locked.set()
        time.sleep(seconds)


def test_a_gate_gives_up_on_a_held_lock_after_the_same_bound_on_both_databases(
    database_url: str, tmp_path: Path
) -> None:
    """The car is let in from the offline snapshot and journalled after about 1.5 s, on
    PostgreSQL as on SQLite; the admin's edit of the same zone waits the lock out; the
    passage reaches the database once the lock is gone."""
    engine = create_db_engine(database_url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
        household = Household(building="3栋", unit="1201")
        session.add(household)
        session.flush()
        session.add(Vehicle(plate="闽A12345", household_id=household.id))
    runtime = journalled_runtime(sessions, tmp_path)
    locked = threading.Event()
    locker = threading.Thread(target=hold_zone_row, args=(engine, LOCK_S, locked))
    admin_done: list[float] = []

    def admin_write() -> None:
        started = time.monotonic()
        with transaction(sessions) as session:
            session.execute(update(Zone).where(Zone.id == "A").values(capacity=12))
        admin_done.append(time.monotonic() - started)

    admin = threading.Thread(target=admin_write)

    async def car() -> tuple[float, Any, int]:
        runtime._bus.bind(asyncio.get_running_loop())
        await runtime.refresh_offline()
        locker.start()
        assert locked.wait(5)
        admin.start()
        started = time.monotonic()
        result = await runtime.handle_sighting(
            Sighting("main-in", datetime.now(UTC), "闽A12345", 0.95)
        )
        waited = time.monotonic() - started
        await asyncio.to_thread(admin.join, 15)
        await asyncio.to_thread(locker.join, 15)
        return waited, result, await runtime.replay_journal()

    try:
        waited, result, written = asyncio.run(car())
        assert result.journal_id is not None, "the car should have been decided offline"
        assert result.decision.verdict is Verdict.ALLOW and "offline" in result.decision.flags
        assert 1.2 <= waited < 2.5, f"the car waited {waited:.1f} s for the lock"
        assert admin_done and admin_done[0] >= LOCK_S - 1.0  # waited, then wrote
        with sessions() as session:
            zone = session.get(Zone, "A")
            assert zone is not None and zone.capacity == 12
        assert written == 1  # no passage lost
        with sessions() as session:
            assert session.scalar(select(Passage.journal_id)) == result.journal_id
            zone = session.get(Zone, "A")
            assert zone is not None and zone.occupied == 1
        if engine.dialect.name == "postgresql":
            # The gate's bound ended with its transactions: admin writes still wait.
            pooled = idle_connections(engine)
            assert {c.exec_driver_sql("SHOW lock_timeout").scalar() for c in pooled} <= {"0"}
            for connection in pooled:
                connection.close()
    finally:
        engine.dispose()
