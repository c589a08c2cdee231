"""A journalled passage that names a household or pass deleted meanwhile is still written.

The offline snapshot is up to 30 s old: a household deleted just before an outage is still in
it, so its car is let in offline with that household's id. Writing the presence row then
failed on its foreign key, the whole write-back stopped at that entry on every retry, and
every later car at every gate failed with it (the gate writes the journal first). The outage
is real (tests/db_outage.py).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select

from controllers.runtime import PassageResult
from controllers.values import Sighting, Verdict
from models.db import create_db_engine, make_session_factory, migrate, transaction
from models.events import Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle
from tests.db_outage import DatabaseOutage
from tests.journal_runtime import journalled_runtime

PLATE = "闽A10001"


def test_an_entry_whose_household_was_deleted_meanwhile_does_not_block_the_journal(
    database_url: str, tmp_path: Path
) -> None:
    outage = DatabaseOutage(database_url)
    engine = create_db_engine(outage.url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        session.add(Zone(id="A", name="A", capacity=40, occupied=0))
        household = Household(building="3", unit="101", spaces=1)
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=PLATE, household_id=household.id))
    runtime = journalled_runtime(sessions, tmp_path, retry_after_s=0.01)

    async def car(plate: str) -> PassageResult:
        return await runtime.handle_sighting(Sighting("main-in", datetime.now(UTC), plate, 0.97))

    async def scenario() -> None:
        runtime._bus.bind(asyncio.get_running_loop())
        await runtime.refresh_offline()
        with transaction(sessions) as session:  # after the snapshot: the car is still in it
            session.execute(delete(Household))
        outage.cut(engine)
        offline = await car(PLATE)
        assert offline.decision.verdict is Verdict.ALLOW and offline.journal_id
        outage.restore()
        await asyncio.sleep(0.05)
        assert await runtime.replay_journal() == 1
        later = await car("粤B00002")  # the next car is decided as usual
        assert later.passage_id is not None

    try:
        asyncio.run(scenario())
        assert not runtime.journal_waiting()
        with sessions() as session:
            written = select(Passage.plate).where(Passage.journal_id.is_not(None))
            assert session.scalar(written) == PLATE
            presence = session.get(Presence, PLATE)
            assert presence is not None and presence.household_id is None
    finally:
        outage.close()
        engine.dispose()
