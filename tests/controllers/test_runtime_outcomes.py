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
from controllers.values import AccessDecision, Direction, Reason, Sighting, Verdict
from models.access_store import SqlAccessStore
from models.db import create_db_engine, make_session_factory, migrate
from models.events import Passage
from services.passage_journal import FilePassageJournal

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
