"""The audit journal keeps every gate action taken during a database outage until the audit
log has it, exactly once, with who, why, when and the barrier's answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from errors import StoreUnavailableError
from models.db import transaction
from models.events import Alarm, AuditEntry
from services.audit_journal import FileAuditJournal, JournalledAudit, write_back
from services.gate_actions import perform_gate_action
from tests.api.test_database_outage import FAST, wait_for
from tests.db_outage import DatabaseOutage

AT = datetime(2026, 12, 2, 1, 13, 5, 250000, tzinfo=UTC)


def entry(key: str, minutes: int = 0, **fields: Any) -> JournalledAudit:
    values: dict[str, Any] = {
        "at": AT + timedelta(minutes=minutes), "username": "guard", "action": "gate.open",
        "reason": "车牌无法识别：业主本人", "target": "gate:main-in", "gate_id": "main-in",
        "details": {"outcome": "open"},
    }
    values.update(fields)
    return JournalledAudit(key=key, **values)



def stored(sessions: sessionmaker[Session]) -> list[tuple[Any, ...]]:
    with transaction(sessions) as session:
        rows = session.execute(
            select(AuditEntry.journal_id, AuditEntry.username, AuditEntry.reason,
                   AuditEntry.at, AuditEntry.details).order_by(AuditEntry.at)
        )
        return [tuple(row) for row in rows]


def test_entries_survive_a_restart_with_their_outcome_and_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "journal" / "audit.jsonl"
    FileAuditJournal(path).begin(entry("a", details={"outcome": "pending"}))
    FileAuditJournal(path).finish("a", {"outcome": "fault", "error": "no echo"})
    with path.open("a", encoding="utf-8") as out:
        out.write('{"type":"audit","entry":{"key":"torn","at":"2026-')  # a crash mid-append
    FileAuditJournal(path).record(entry("b", 1))

    journal = FileAuditJournal(path)  # as after a restart
    assert journal.pending() == [
        entry("a", details={"outcome": "fault", "error": "no echo"}), entry("b", 1)
    ]
    journal.discard({"a"})
    assert journal.pending() == [entry("b", 1)]
    journal.discard({"b"})
    assert not journal.waiting() and not path.exists()


def test_an_unwritable_journal_is_an_outage_error_not_a_silent_loss(tmp_path: Path) -> None:
    blocked = tmp_path / "journal"
    blocked.write_text("a file where the directory should be")
    with pytest.raises(StoreUnavailableError, match="audit journal"):
        FileAuditJournal(blocked / "audit.jsonl").begin(entry("a"))


def test_written_once_even_when_a_crash_cut_the_trim(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    path = tmp_path / "audit.jsonl"
    journal = FileAuditJournal(path)
    journal.record(entry("a"))
    journal.record(entry("b", 1, username="guard2", reason="救护车"))
    left_by_a_crash = path.read_bytes()

    first = write_back(sessions, journal)
    path.write_bytes(left_by_a_crash)  # committed, but the process died before the trim
    second = write_back(sessions, FileAuditJournal(path))

    assert [e["action"] for e in first.written] == ["gate.open", "gate.open"]
    assert second.written == second.set_aside == [] and not path.exists()
    assert not FileAuditJournal(path).set_aside_path.exists()
    assert stored(sessions) == [
        ("a", "guard", "车牌无法识别：业主本人", AT, {"outcome": "open"}),
        ("b", "guard2", "救护车", AT + timedelta(minutes=1), {"outcome": "open"}),
    ]


def test_an_entry_whose_barrier_is_still_answering_waits_for_its_outcome(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    journal = FileAuditJournal(tmp_path / "audit.jsonl")
    journal.begin(entry("a", details={"outcome": "pending"}))

    assert write_back(sessions, journal).written == []
    journal.finish("a", {"outcome": "opening"})
    write_back(sessions, journal)

    assert [row[4] for row in stored(sessions)] == [{"outcome": "opening"}]
    assert not journal.waiting()


def test_an_entry_the_database_refuses_is_set_aside_and_the_next_is_written(
    tmp_path: Path, sessions: sessionmaker[Session], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite stores a string of any length: nothing to refuse")
    journal = FileAuditJournal(tmp_path / "audit.jsonl")
    journal.record(entry("bad", gate_id="g" * 40))  # longer than the column
    journal.record(entry("good", 1))

    result = write_back(sessions, journal)

    assert [row[0] for row in stored(sessions)] == ["good"]
    (why,) = result.set_aside
    assert "gate.open by guard" in why
    assert [e.key for e in FileAuditJournal(journal.set_aside_path).pending()] == ["bad"]
    assert not journal.waiting()


def test_a_refused_audit_entry_raises_its_own_alarm_not_a_passage_ones(
    app_factory: Any, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite stores a string of any length: nothing to refuse")
    client = app_factory()
    services = client.app.state.services
    services.audit_journal.record(entry("bad", gate_id="g" * 40))  # longer than the column

    client.portal.call(services.write_back_audit)

    with transaction(services.sessions) as session:
        kinds = list(session.scalars(select(Alarm.kind)))
    assert kinds == ["audit_entry_set_aside"]  # 操作日志未能写入, not 通行记录未能写入


def test_an_action_that_finds_the_database_gone_at_its_audit_is_journalled(
    app_factory: Any, outage: DatabaseOutage
) -> None:
    """Nothing told the action the database was down (no guard's page, no car since): the
    barrier moves, the row cannot be written, and the whole entry goes to the journal."""
    client = app_factory(database_url=outage.url, **FAST)
    services = client.app.state.services
    outage.cut(services.engine)
    assert not services.runtime.database_suspect()

    result = client.portal.call(lambda: perform_gate_action(
        services, username="guard", gate_id="main-out", action="hold_open", reason="早高峰常开",
    ))

    assert result.audit_id is None and result.journal_id
    assert str(services.barriers["main-out"].state) in ("opening", "held_open")
    assert services.runtime.database_suspect()  # the next cars go offline at once
    (waiting,) = services.audit_journal.pending()
    assert waiting.details == {"outcome": result.state}
    outage.restore()
    wait_for(lambda: not services.audit_waiting())
    with transaction(services.sessions) as session:
        (row,) = session.scalars(select(AuditEntry)).all()
        assert (row.action, row.username, row.reason, row.journal_id) == (
            "gate.hold_open", "guard", "早高峰常开", result.journal_id
        )
