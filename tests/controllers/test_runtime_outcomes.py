"""What a passage's barrier_outcome says, written by the runtime on a real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from controllers.events import EventBus
from controllers.policy import AccessPolicy, GateContext
from controllers.ports import PassageRecord
from controllers.runtime import GateRuntime
from controllers.values import AccessDecision, Credential, Direction, Reason, Sighting, Verdict
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from models.events import Passage
from models.site import Zone
from services.passage_journal import FilePassageJournal
from tests.db_outage import DatabaseOutage

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
GATES = {"main-in": GateContext("main-in", Direction.IN, None)}


class OpensAtOnce:
    command_budget_s = 1.0

    async def open(self) -> str:
        return "opening"


def database(database_url: str) -> sessionmaker[Session]:
    engine = create_db_engine(database_url)
    migrate(engine)
    return make_session_factory(engine)


def runtime(sessions: sessionmaker[Session], **kwargs: Any) -> GateRuntime:
    return GateRuntime(
        store=SqlAccessStore(sessions), gates=GATES, barriers={"main-in": OpensAtOnce()},
        policy=AccessPolicy(), bus=EventBus(), clock=lambda: NOW, **kwargs,
    )


def outcome(sessions: sessionmaker[Session], passage_id: int) -> str:
    with sessions() as session:
        passage = session.get(Passage, passage_id)
        assert passage is not None
        return passage.barrier_outcome


def test_a_passage_that_does_not_open_reads_closed_not_pending(database_url: str) -> None:
    """Audit L3: deny and review passages kept 'pending' for good, so the passages a crash
    interrupted (allowed, committed, barrier never answered) could not be picked out."""
    sessions = database(database_url)
    gate = runtime(sessions)
    unknown = Sighting("main-in", NOW, "粤B67890", 0.95)
    result = asyncio.run(gate.handle_sighting(unknown))
    assert result.decision.verdict is Verdict.REVIEW and result.barrier == "closed"
    assert result.passage_id is not None
    assert outcome(sessions, result.passage_id) == "closed"  # what the camera was told


def test_a_journalled_passage_that_does_not_open_is_written_closed(
    database_url: str, tmp_path: Path
) -> None:
    sessions = database(database_url)
    journal = FilePassageJournal(tmp_path / "journal.jsonl")
    journal.append(PassageRecord(
        gate_id="main-in", direction=Direction.IN, zone_id=None,
        sighting=Sighting("main-in", NOW, "粤B67890", 0.95),
        decision=AccessDecision(Verdict.DENY, Reason.BLOCKED, flags=("offline",)),
        snapshot_path=None, journal_id="j1",
    ))
    assert asyncio.run(runtime(sessions, journal=journal).replay_journal()) == 1
    with sessions() as session:
        (row,) = session.query(Passage).all()
    assert row.journal_id == "j1" and row.barrier_outcome == "closed"


class CutsTheDatabase:
    """Opens, while the database goes away (between the passage's commit and the answer)."""

    command_budget_s = 5.0

    def __init__(self, cut: Any) -> None:
        self.cut = cut

    async def open(self) -> str:
        await asyncio.to_thread(self.cut)
        return "opening"


FACE = AccessDecision(Verdict.ALLOW, Reason.FACE_RESIDENT, credential=Credential.FACE)


def test_an_outcome_the_database_cannot_take_is_answered_and_written_when_it_is_back(
    outage: DatabaseOutage, tmp_path: Path
) -> None:
    """Audit H3: the passage was committed and the barrier opened, then the outcome write
    raised: the camera got 503 without the passage id (a retrying camera records the car
    twice) and the row read 'pending' for good. Same for the availability read after it."""
    engine = create_db_engine(outage.url)
    migrate(engine)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(Zone(id="A", name="A", capacity=10, occupied=0))
    journal = FilePassageJournal(tmp_path / "journal.jsonl")
    bus = EventBus()
    gate = GateRuntime(
        store=SqlAccessStore(sessions),
        gates={"main-in": GateContext("main-in", Direction.IN, "A")},
        barriers={"main-in": CutsTheDatabase(lambda: outage.cut(engine))},
        policy=AccessPolicy(), bus=bus, clock=lambda: NOW, journal=journal,
    )

    result = asyncio.run(gate.handle_decision("main-in", FACE))
    assert result.passage_id is not None and result.barrier == "opening"
    assert gate.database_suspect()  # the next car decides offline without waiting on it
    assert journal.backlog().outcomes == {result.passage_id: "opening"}

    outage.restore()
    asyncio.run(gate.replay_journal())
    assert outcome(sessions, result.passage_id) == "opening"
    assert not journal.waiting()
    engine.dispose()
