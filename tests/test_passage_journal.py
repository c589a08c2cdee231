"""The offline journal keeps every passage across crashes until the database has it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from controllers.ports import JournalBacklog, PassageRecord
from controllers.values import (
    AccessDecision,
    Credential,
    Direction,
    Reason,
    Sighting,
    Verdict,
)
from errors import StoreUnavailableError
from services.passage_journal import FilePassageJournal

AT = datetime(2026, 11, 28, 8, 0, 5, 123000, tzinfo=UTC)


def record(journal_id: str, plate: str = "闽AD12345") -> PassageRecord:
    decision = AccessDecision(
        Verdict.ALLOW, Reason.RESIDENT, Credential.PLATE, flags=("offline",),
        vehicle_id=1, household_id=2, resident_id=3, matched_plate=None,
    )
    return PassageRecord(
        gate_id="main-in", direction=Direction.IN, zone_id="A",
        sighting=Sighting("main-in", AT, plate, 0.93, color="green", frames=4, reads=3),
        decision=decision, snapshot_path="main-in/2026/11/28/x.jpg",
        details={"source": "camera", "candidates": [{"plate": plate, "confidence": 0.93}]},
        journal_id=journal_id,
    )


def test_entries_survive_a_new_process_with_their_barrier_outcome(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "passages.jsonl"
    FilePassageJournal(path).append(record("a"))
    FilePassageJournal(path).append(record("b", "闽A12345"))
    FilePassageJournal(path).set_outcome("a", "open")

    entries = FilePassageJournal(path).pending()  # as after a restart

    assert [e.record for e in entries] == [record("a"), record("b", "闽A12345")]
    assert [e.barrier_outcome for e in entries] == ["open", "pending"]


def test_outcomes_of_committed_passages_survive_a_restart_and_leave_by_id(
    tmp_path: Path,
) -> None:
    """The barrier outcome of a passage the database took just before it went away."""
    path = tmp_path / "passages.jsonl"
    FilePassageJournal(path).append(record("a"))
    FilePassageJournal(path).set_passage_outcome(41, "opening")
    FilePassageJournal(path).set_passage_outcome(42, "fault")
    FilePassageJournal(path).set_passage_outcome(41, "open")  # the last word counts

    backlog = FilePassageJournal(path).backlog()
    assert [e.record.journal_id for e in backlog.entries] == ["a"]
    assert backlog.outcomes == {41: "open", 42: "fault"}

    journal = FilePassageJournal(path)
    journal.discard({"a"}, outcomes={41})
    assert journal.backlog().outcomes == {42: "fault"} and journal.pending() == []
    journal.discard(set(), outcomes={42})
    assert not path.exists()


def test_discard_keeps_the_rest_and_removes_an_empty_journal(tmp_path: Path) -> None:
    journal = FilePassageJournal(tmp_path / "passages.jsonl")
    for name in ("a", "b", "c"):
        journal.append(record(name))
    journal.set_outcome("c", "fault")
    journal.discard({"a", "b"})
    (left,) = journal.pending()
    assert left.record.journal_id == "c" and left.barrier_outcome == "fault"
    journal.discard({"c"})
    assert journal.pending() == [] and not journal.path.exists()


def test_a_line_torn_by_a_crash_is_skipped_and_does_not_swallow_the_next(
    tmp_path: Path,
) -> None:
    journal = FilePassageJournal(tmp_path / "passages.jsonl")
    journal.append(record("a"))
    with journal.path.open("a", encoding="utf-8") as f:
        f.write('{"type":"passage","record":{"journal_id":"torn","gate')  # power cut here
    journal.append(record("b"))
    assert [e.record.journal_id for e in journal.pending()] == ["a", "b"]


def test_an_unwritable_journal_is_a_clear_error_not_a_silent_loss(tmp_path: Path) -> None:
    path = tmp_path / "passages.jsonl"
    path.mkdir()  # e.g. a broken mount: the file cannot be opened for appending
    with pytest.raises(StoreUnavailableError, match=r"journal .* is not writable"):
        FilePassageJournal(path).append(record("a"))


def test_a_refused_entry_is_moved_aside_with_its_outcome_and_the_rest_stays(
    tmp_path: Path,
) -> None:
    """Set aside, not dropped: a journal of the same format that an operator can feed back."""
    journal = FilePassageJournal(tmp_path / "journal" / "passages.jsonl")
    for name in ("a", "b"):
        journal.append(record(name))
    journal.set_outcome("a", "open")
    journal.set_passage_outcome(41, "fault")
    (refused, _) = journal.pending()

    journal.set_aside(JournalBacklog([refused], {41: "fault"}), "IntegrityError: refused")

    assert [e.record.journal_id for e in journal.pending()] == ["b"]
    assert journal.backlog().outcomes == {}
    assert journal.set_aside_path == tmp_path / "journal" / "passages.set-aside.jsonl"
    aside = FilePassageJournal(journal.set_aside_path).backlog()
    assert aside.entries == [refused] and refused.barrier_outcome == "open"
    assert aside.outcomes == {41: "fault"}
    assert journal.set_aside_path.read_text(encoding="utf-8").count("IntegrityError") == 3


def test_a_plate_kind_survives_the_journal_and_older_entries_have_none(tmp_path: Path) -> None:
    """A trailer decided offline keeps its kind until written to the database; an entry
    journalled by a parkgate before the field reads as a sighting that says no kind."""
    import json

    from services.passage_journal import record_from_json, record_to_json

    path = tmp_path / "passages.jsonl"
    trailer = Sighting("main-in", AT, "冀A1234挂", 0.9, color="yellow", kind="trailer")
    written = record("a")
    FilePassageJournal(path).append(PassageRecord(
        gate_id="main-in", direction=Direction.IN, zone_id="A", sighting=trailer,
        decision=written.decision, snapshot_path=None, journal_id="a",
    ))
    assert FilePassageJournal(path).pending()[0].record.sighting.kind == "trailer"

    older = json.loads(json.dumps(record_to_json(record("b"))))
    del older["sighting"]["kind"]
    assert record_from_json(older).sighting == record("b").sighting
    assert record_from_json(older).sighting.kind is None
