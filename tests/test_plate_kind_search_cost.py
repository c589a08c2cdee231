"""The history's plate-kind search ("this week's trailers") at a year of passages: a kind is a
handful of rows among millions (bench/scale.py's ~13,000 a day), so SQLite must count and page
it off ix_passages_plate_kind_at. Without it the plan was ``SCAN passages`` for the count and
a walk of every passage newest first for the page. The plan is read, not timed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Select, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from services.passage_search import PassageQuery, _newest_first, _window
from vision.plate_grammar import PlateKind


def plan(session: Session, stmt: Select[Any]) -> str:
    bind = session.get_bind()
    sql = str(stmt.compile(bind, compile_kwargs={"literal_binds": True}))
    return " | ".join(row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql)))


@pytest.mark.parametrize("since", [None, datetime(2026, 11, 23, 16, tzinfo=UTC)])
def test_a_kind_is_counted_and_paged_off_its_index(
    sessions: sessionmaker[Session], since: datetime | None
) -> None:
    with sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL plans by its statistics")
        stmt = _window(PassageQuery(plate_kind=PlateKind.TRAILER, since=since))
        count = plan(session, select(func.count()).select_from(stmt.subquery()))
        page = plan(session, _newest_first(stmt).limit(50).offset(100))
    for said in (count, page):
        assert "ix_passages_plate_kind_at (plate_kind=?" in said, said
        assert "SCAN" not in said, said
    assert "TEMP B-TREE" not in page, page  # newest first straight off the index
