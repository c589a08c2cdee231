"""Whether a resident's face data was erased or their consent withdrawn is asked of the audit
log on every enrolment and consent (services/faces.py). The log keeps every override, login
and change for years: the question must be answered off ix_audit_log_target_action, not by
reading the whole log (``SCAN audit_log``: ~30 ms at 500,000 entries, twice per resident of
an ``enrol-faces`` run). The plan is read, not timed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from services.faces import deleted_since_decided, has_withdrawn, newest_erasure


@contextmanager
def statements(session: Session) -> Iterator[list[tuple[str, Any]]]:
    """The SQL ``session`` sends meanwhile, with its parameters."""
    sent: list[tuple[str, Any]] = []
    engine = session.get_bind()

    def note(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        sent.append((sql, params))

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", note)


def plan_of(session: Session, ask: Callable[[], object]) -> str:
    with statements(session) as sent:
        ask()
    selects = [(sql, params) for sql, params in sent if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, sent
    sql, params = selects[0]
    rows = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
    return " | ".join(row[3] for row in rows)


def test_a_residents_erasures_are_read_off_the_index(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans by its statistics")
        said = plan_of(session, lambda: newest_erasure(session, 17))
        assert "ix_audit_log_target_action (target=? AND action=?)" in said, said
        assert "SCAN" not in said, said

        said = plan_of(session, lambda: has_withdrawn(session, 17))
        assert "ix_audit_log_target_action (target=? AND action=?)" in said, said
        assert "SCAN" not in said, said

        said = plan_of(session, lambda: deleted_since_decided(session, 17))
        assert "ix_audit_log_target_action (target=? AND action=?)" in said, said
        assert "SCAN" not in said, said
