"""Which log-outs a restart reads back: those whose tokens may still be presented, from the
audit table and the audit journal, and nothing a start could trip over (entries written
before log-outs named their session, or edited by hand). Real databases, a real journal."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from models.db import transaction
from models.events import AuditEntry
from services.audit_journal import FileAuditJournal, JournalledAudit
from services.session_ends import ended_from, logout_details, recent_logouts
from services.tokens import session_fingerprint

NOW = time.time()


def _logout(details: Mapping[str, object], *, hours_ago: float = 0.0) -> AuditEntry:
    at = datetime.fromtimestamp(NOW, UTC) - timedelta(hours=hours_ago)
    return AuditEntry(at=at, username="guard", action="auth.logout",
                      details={"via": "api", "address": "10.0.0.5", **details})


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (logout_details("sid-1", 1_900_000_000), (session_fingerprint("sid-1"), 1.9e9)),
        ({"via": "console", "idle": False}, None),  # written before log-outs named a session
        ({"session": "ab12", "refused_until": "tomorrow"}, None),  # edited by hand
        ({"session": 12, "refused_until": "2030-01-01T00:00:00+00:00"}, None),
        ({"session": "ab12", "refused_until": "2030-01-01T00:00:00"},  # no zone: read as UTC
         ("ab12", datetime(2030, 1, 1, tzinfo=UTC).timestamp())),
        (None, None),
    ],
)
def test_a_log_out_entry_names_its_session_or_is_passed_over(
    details: dict[str, Any] | None, expected: tuple[str, float] | None
) -> None:
    assert ended_from(details) == expected


def test_the_session_id_itself_is_never_in_the_entry() -> None:
    details = logout_details("the-session-id", NOW + 60)
    assert "the-session-id" not in repr(details)
    assert details["session"] == session_fingerprint("the-session-id")


def test_a_restart_reads_the_log_outs_still_live_from_the_table_and_the_journal(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with transaction(sessions) as session:
        session.add_all([
            _logout(logout_details("live", NOW + 3600), hours_ago=11),
            _logout(logout_details("over", NOW - 60), hours_ago=12),  # its tokens expired
            _logout({}, hours_ago=1),  # from before log-outs named a session
            _logout(logout_details("too-old", NOW + 3600), hours_ago=24 * 8),  # out of reach
            AuditEntry(at=datetime.fromtimestamp(NOW, UTC), username="guard",
                       action="auth.login", details=logout_details("login", NOW + 3600)),
        ])
    journal = FileAuditJournal(tmp_path / "audit.jsonl")
    journal.record(JournalledAudit(key="k1", at=datetime.now(UTC), username="guard",
                                   action="auth.logout", reason="",
                                   details=dict(logout_details("in-outage", NOW + 600))))
    journal.record(JournalledAudit(key="k2", at=datetime.now(UTC), username="guard",
                                   action="gate.open", reason="业主电话确认",
                                   details=dict(logout_details("not-a-logout", NOW + 600))))

    found, read = recent_logouts(sessions, journal, read_database=True, lookback_s=720 * 60,
                                 now=NOW)
    assert read
    assert sorted(fp for fp, _ in found) == sorted(
        session_fingerprint(s) for s in ("live", "in-outage"))

    during_outage, read = recent_logouts(sessions, journal, read_database=False,
                                         lookback_s=720 * 60, now=NOW)
    assert not read  # read the table again once the database answers
    assert [fp for fp, _ in during_outage] == [session_fingerprint("in-outage")]
