"""The write-back puts a stored passage's journalled barrier outcome where it happened: before
the passages decided offline after it, on a real database that really goes away.

A passage committed just before the database went away whose barrier then failed (one
network fault taking both the database and the barrier's relay) has its outcome journalled.
The car tries again offline and is let in. The write-back wrote the retry first (the car was
still recorded inside by the failed passage, so the retry counted nothing) and then the
failed outcome, which took the car out: inside, but recorded nowhere, and the zone one short.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from controllers.events import EventBus
from controllers.offline import OfflineAccess
from controllers.policy import AccessPolicy, GateContext
from controllers.runtime import GateRuntime
from controllers.values import Direction, Sighting, Verdict
from errors import HardwareError
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from models.events import Passage
from models.people import Household
from models.site import Zone
from models.vehicles import Presence, Vehicle
from services.passage_journal import FilePassageJournal
from tests.db_outage import DatabaseOutage

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
RESIDENT = "沪AD12345"


class CutThenJam:
    """The first open takes the database away and fails; later ones open."""

    command_budget_s = 1.0

    def __init__(self, cut: Any) -> None:
        self.cut = cut
        self.opens = 0

    async def open(self) -> str:
        self.opens += 1
        if self.opens == 1:
            await asyncio.to_thread(self.cut)
            raise HardwareError("open not confirmed within 2 s")
        return "opening"


def test_a_failed_outcome_journalled_at_the_outage_start_does_not_take_out_the_retry(
    outage: DatabaseOutage, tmp_path: Path
) -> None:
    engine = create_db_engine(outage.url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
        household = Household(building="3栋", unit="1201")
        session.add(household)
        session.flush()
        session.add(Vehicle(plate=RESIDENT, household_id=household.id))
    journal = FilePassageJournal(tmp_path / "journal.jsonl")
    gate = GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, "A")},
        barriers={"main-in": CutThenJam(lambda: outage.cut(engine))},
        policy=AccessPolicy(), bus=EventBus(), clock=lambda: NOW, journal=journal,
        offline=OfflineAccess(),
    )
    asyncio.run(gate.refresh_offline())

    failed = asyncio.run(gate.handle_sighting(Sighting("main-in", NOW, RESIDENT, 0.95)))
    assert failed.passage_id is not None and failed.barrier == "fault"
    assert journal.backlog().outcomes == {failed.passage_id: "fault"}
    retry = asyncio.run(gate.handle_sighting(Sighting("main-in", NOW, RESIDENT, 0.95)))
    assert retry.journal_id is not None and retry.decision.verdict is Verdict.ALLOW
    assert retry.barrier == "opening"

    outage.restore()
    asyncio.run(gate.replay_journal())
    assert not journal.waiting()
    with sessions() as session:
        retried = session.scalars(
            select(Passage).where(Passage.journal_id == retry.journal_id)).one()
        inside = session.scalar(select(Presence.passage_id).where(Presence.plate == RESIDENT))
        zone = session.get(Zone, "A")
        assert zone is not None
        assert (inside, zone.occupied) == (retried.id, 1)  # the car, counted once
    engine.dispose()
