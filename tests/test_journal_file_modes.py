"""The journals hold plates, residents' ids, guards' names and their reasons: on a shared
controller box only parkgate's own user may read them (0600), as the offline snapshot."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from controllers.ports import JournalBacklog
from services.audit_journal import FileAuditJournal
from services.passage_journal import FilePassageJournal
from tests.test_audit_journal import entry
from tests.test_passage_journal import record


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems run services with: files come out 0644 unless asked."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_passage_journal_and_its_set_aside_file_are_private(tmp_path: Path) -> None:
    journal = FilePassageJournal(tmp_path / "journal" / "passages.jsonl")
    journal.append(record("a", "闽AD12345"))
    journal.append(record("b", "闽AD54321"))
    assert mode(journal.path) == 0o600

    # Set aside rewrites the journal (a new file) and creates the set-aside one.
    journal.set_aside(JournalBacklog(entries=journal.pending()[:1]), "IntegrityError: test")
    assert journal.path.exists() and journal.set_aside_path.exists()
    assert mode(journal.path) == 0o600
    assert mode(journal.set_aside_path) == 0o600


def test_the_audit_journal_and_its_set_aside_file_are_private(tmp_path: Path) -> None:
    journal = FileAuditJournal(tmp_path / "journal" / "audit.jsonl")
    journal.record(entry("a"))
    journal.record(entry("b", 1))
    assert mode(journal.path) == 0o600

    journal.set_aside(entry("a"), "IntegrityError: test")
    assert [e.key for e in journal.pending()] == ["b"]
    assert mode(journal.path) == 0o600
    assert mode(journal.set_aside_path) == 0o600


def test_a_journal_left_readable_by_an_earlier_version_is_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "passages.jsonl"
    path.write_text("")
    path.chmod(0o644)
    FilePassageJournal(path).append(record("a"))
    assert mode(path) == 0o600
