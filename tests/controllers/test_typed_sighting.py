"""A plate a guard typed (人工录入车牌) is a sighting like a read, and its passage says so
wherever it is decided: online, offline from the snapshot, and with no snapshot at all."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from controllers.ports import PassageRecord
from controllers.values import (
    TYPED_PLATE,
    AccessDecision,
    Direction,
    Reason,
    Sighting,
    Verdict,
)
from models.events import Passage
from services.passage_journal import FilePassageJournal
from tests.controllers.test_runtime_outcomes import NOW, database, runtime
from tests.db_outage import DatabaseOutage


def typed(plate: str = "粤B67890") -> Sighting:
    return Sighting("main-in", NOW, plate, 1.0, reads=1, typed=True)


def test_a_typed_sighting_needs_its_plate() -> None:
    with pytest.raises(ValueError, match="typed needs the plate"):
        Sighting("main-in", NOW, None, 1.0, typed=True)
    assert not Sighting("main-in", NOW, "粤B67890", 0.9).typed  # a camera's read by default


def test_a_typed_passage_is_flagged_online(database_url: str) -> None:
    sessions = database(database_url)
    result = asyncio.run(runtime(sessions).handle_sighting(typed()))
    assert result.decision.verdict is Verdict.REVIEW and TYPED_PLATE in result.decision.flags
    with sessions() as session:
        row = session.get(Passage, result.passage_id)
        assert row is not None and TYPED_PLATE in row.flags


def test_a_typed_passage_decided_with_no_snapshot_is_flagged_and_journalled_as_typed(
    database_url: str, tmp_path: Path
) -> None:
    """The database is away and nothing was ever snapshotted: the decision is no rule's
    (database_unavailable), and is still marked as typed, in the journal line too."""
    outage = DatabaseOutage(database_url)
    sessions = database(outage.url)
    path = tmp_path / "journal.jsonl"
    gate = runtime(sessions, journal=FilePassageJournal(path))
    outage.cut(sessions.kw["bind"])
    try:
        result = asyncio.run(gate.handle_sighting(typed()))
    finally:
        outage.restore()
        outage.close()
    assert result.passage_id is None and result.decision.reason is Reason.DATABASE_UNAVAILABLE
    assert set(result.decision.flags) == {"offline", TYPED_PLATE}
    (entry,) = FilePassageJournal(path).pending()  # read back from the file
    assert entry.record.sighting.typed and TYPED_PLATE in entry.record.decision.flags


def test_an_old_journal_line_without_the_field_reads_as_a_camera_read(tmp_path: Path) -> None:
    journal = FilePassageJournal(tmp_path / "journal.jsonl")
    journal.append(PassageRecord(
        gate_id="main-in", direction=Direction.IN, zone_id=None,
        sighting=Sighting("main-in", NOW, "粤B67890", 0.95),
        decision=AccessDecision(Verdict.REVIEW, Reason.UNKNOWN_PLATE, flags=("offline",)),
        snapshot_path=None, journal_id="j1",
    ))
    text = journal.path.read_text(encoding="utf-8").replace(',"typed":false', "")
    assert '"typed"' not in text
    journal.path.write_text(text, encoding="utf-8")
    (entry,) = journal.pending()
    assert entry.record.sighting.typed is False
