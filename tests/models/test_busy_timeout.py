"""A car does not wait 10 s at the barrier for an SQLite lock someone else holds; an admin's
write still waits it out.

The lock is real: a second connection holds ``BEGIN EXCLUSIVE`` on the file, as a bulk import,
a backup tool or a stuck process would.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from controllers.values import Sighting
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.people import Household
from models.site import Zone
from tests.journal_runtime import journalled_runtime

LOCK_S = 4.0


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
        pooled = [engine.connect() for _ in range(engine.pool.checkedin())]
        assert [c.exec_driver_sql("PRAGMA busy_timeout").scalar() for c in pooled] == [
            10_000
        ] * len(pooled)
        for connection in pooled:
            connection.close()
    finally:
        engine.dispose()
