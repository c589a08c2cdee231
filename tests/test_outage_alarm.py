"""One database outage is one database_outage alarm, however many write-backs it takes.

Cars that arrive while the journal is being written are still decided offline (the write-back
must go first, and the breaker is still set), so they are written by a second write-back; the
audit saw that second one raise a second alarm (60 + 2 passages). The database really goes
away (tests/db_outage.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from controllers.values import Sighting
from models.base import utcnow
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.events import Alarm
from models.site import Zone
from tests.db_outage import DatabaseOutage
from tests.journal_runtime import journalled_runtime


def outage_alarms(sessions: Any) -> list[Alarm]:
    with sessions() as session:
        return list(session.scalars(
            select(Alarm).where(Alarm.kind == "database_outage").order_by(Alarm.id)
        ))


def test_cars_journalled_during_a_write_back_do_not_raise_a_second_outage_alarm(
    database_url: str, tmp_path: Path
) -> None:
    outage = DatabaseOutage(database_url)
    engine = create_db_engine(outage.url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
    runtime = journalled_runtime(sessions, tmp_path, retry_after_s=30.0)

    async def car(plate: str) -> Any:
        return await runtime.handle_sighting(Sighting("main-in", datetime.now(UTC), plate, 0.95))

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        outage.cut(engine)
        assert (await car("粤B00001")).journal_id
        outage.restore()
        assert await runtime.replay_journal() == 1
        # A car that came while that write-back ran: decided offline (the breaker is still
        # set then), written by the next write-back.
        runtime.mark_database_unavailable()
        assert (await car("粤B00002")).journal_id
        assert await runtime.replay_journal() == 1
        (alarm,) = outage_alarms(sessions)
        assert "2 passage(s)" in alarm.message

        # The database served a gate since: a later outage is a new one, with its own alarm.
        assert (await car("粤B00003")).passage_id is not None
        runtime.mark_database_unavailable()
        assert (await car("粤B00004")).journal_id
        assert await runtime.replay_journal() == 1
        first, second = outage_alarms(sessions)
        assert "2 passage(s)" in first.message and "1 passage(s)" in second.message

        # An outage alarm a guard already acknowledged is not reworded: a new one says it.
        with transaction(sessions) as session:
            acknowledged = session.get(Alarm, second.id)
            assert acknowledged is not None
            acknowledged.acknowledged_at = utcnow()
        runtime.mark_database_unavailable()
        assert (await car("粤B00005")).journal_id
        assert await runtime.replay_journal() == 1
        counts = [a.message.split(" between")[0] for a in outage_alarms(sessions)]
        assert counts == [f"database was unreachable: {n} passage(s)" for n in (2, 1, 2)]

    try:
        asyncio.run(scenario())
    finally:
        outage.close()
        engine.dispose()
