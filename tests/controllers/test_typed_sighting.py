"""A plate a guard typed (人工录入车牌) is a sighting like a read, and its passage says so
wherever it is decided: online, offline from the snapshot, and with no snapshot at all."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from controllers.ports import PassageRecord
from controllers.runtime import GateRuntime, PassageResult
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
from tests.controllers.test_runtime_outcomes import (
    NOW,
    RESIDENT,
    VISITOR,
    database,
    runtime,
    site,
)
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


# -- a typed plate repeated at the gate (double click, retry, two guards) ----------------


def typed_at(gate: GateRuntime, plate: str) -> PassageResult:
    return asyncio.run(gate.handle_sighting(Sighting("main-in", NOW, plate, 1.0, typed=True)))


def passages(sessions: Any) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(Passage.id)))


def test_a_plate_typed_twice_at_once_is_one_car_and_one_pass_use(database_url: str) -> None:
    """Before, a double click, a retry after a lost answer or two guards typing the same car
    made two passages: the zone counted the car twice and a one-entry pass was spent (the
    second answer read pass_used_up for a car the first had let in)."""
    at = site(database_url)

    async def two_guards() -> list[PassageResult]:
        sighting = Sighting("main-in", NOW, VISITOR, 1.0, typed=True)
        return list(await asyncio.gather(at.gate.handle_sighting(sighting),
                                         at.gate.handle_sighting(sighting)))

    first, second = asyncio.run(two_guards())

    assert (first.decision.reason, first.repeat) == (Reason.VISITOR_PASS, False)
    assert (second.passage_id, second.decision.reason, second.repeat) == (
        first.passage_id, Reason.VISITOR_PASS, True)
    assert passages(at.sessions) == [first.passage_id]
    assert at.state()[:2] == (1, 1)
    # A retry later still is the same car.
    assert typed_at(at.gate, VISITOR).passage_id == first.passage_id
    assert at.state()[:2] == (1, 1)


def test_a_typed_plate_the_camera_just_decided_is_that_passage(database_url: str) -> None:
    at = site(database_url)
    read = at.car(RESIDENT)
    again = typed_at(at.gate, RESIDENT)
    assert (again.passage_id, again.repeat, again.barrier) == (read.passage_id, True, "opening")
    assert at.state()[0] == 1
    # The camera's own repeats are its voter's business: each read still decides.
    assert at.car(RESIDENT).passage_id != read.passage_id


def test_a_car_the_camera_reads_just_after_the_guard_typed_it_is_that_passage(
    database_url: str,
) -> None:
    """The camera could not read the visitor far off, the guard typed it, and the camera
    read it as it came up to the barrier: before, a second passage, the one-entry pass
    answered pass_used_up and the zone counted the car twice."""
    at = site(database_url)
    typed_in = typed_at(at.gate, VISITOR)
    read = at.car(VISITOR)
    assert (read.passage_id, read.repeat, read.decision.reason) == (
        typed_in.passage_id, True, Reason.VISITOR_PASS)
    assert passages(at.sessions) == [typed_in.passage_id]
    assert at.state()[:2] == (1, 1)


def test_a_plate_the_camera_read_doubtfully_is_decided_when_the_guard_types_it(
    database_url: str,
) -> None:
    at = site(database_url)
    doubtful = asyncio.run(at.gate.handle_sighting(Sighting("main-in", NOW, RESIDENT, 0.5)))
    assert doubtful.decision.reason is Reason.LOW_CONFIDENCE
    typed_in = typed_at(at.gate, RESIDENT)
    assert (typed_in.repeat, typed_in.decision.reason) == (False, Reason.RESIDENT)
    assert typed_in.passage_id != doubtful.passage_id and at.state()[0] == 1


def test_a_typed_car_whose_barrier_did_not_open_is_decided_again(database_url: str) -> None:
    at = site(database_url)
    at.relay.jammed = True
    failed = typed_at(at.gate, VISITOR)
    assert failed.barrier == "fault" and at.state()[:2] == (0, 0)
    at.relay.jammed = False
    again = typed_at(at.gate, VISITOR)
    assert (again.repeat, again.barrier, again.decision.reason) == (
        False, "opening", Reason.VISITOR_PASS)
    assert again.passage_id != failed.passage_id and at.state()[:2] == (1, 1)


def test_a_plate_typed_after_the_window_is_decided_again(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("controllers.runtime.TYPED_REPEAT_WINDOW", timedelta(0))
    at = site(database_url)
    first = typed_at(at.gate, RESIDENT)
    again = typed_at(at.gate, RESIDENT)
    assert not again.repeat and again.passage_id != first.passage_id
    assert "anti_passback" in again.decision.flags
