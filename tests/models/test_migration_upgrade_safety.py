"""An upgrade keeps every row's links and is all or nothing, on every database.

Found walking an upgrade from 75f9eb8 (revision 0010) on SQLite: the rebuild of visitor_passes
(0013, 0014) ran the dropped table's ON DELETE SET NULL, so a visitor's car inside lost its
pass (it then counted as one of the host household's own cars, and its overstay alarm never
came); and an upgrade that failed halfway left 0011's indexes committed at revision 0010, so
every later start failed with "index … already exists"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext

from models.db import alembic_config, create_db_engine, known_revisions, migrate

HEAD_ONLY_INDEXES = {"ix_passages_decision_resolution_at", "ix_audit_log_passage_id"}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


def _to(engine: Engine, revision: str) -> None:
    """The database as an older parkgate left it."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _revision(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())


def test_a_visitor_inside_keeps_its_pass_through_the_upgrade(engine: Engine) -> None:
    _to(engine, "0012")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO households (id, building, unit, spaces, note, created_at)"
            " VALUES (1, '3栋', '1单元1201', 1, '', '2026-11-30 08:00:00')"
        ))
        connection.execute(text(
            "INSERT INTO visitor_passes (id, plate, host_household_id, valid_from, valid_to,"
            " max_uses, uses, note, created_by, created_at, qr_nonce) VALUES (7, '京N99Q77', 1,"
            " '2026-11-30 08:00:00', '2026-12-30 08:00:00', 5, 1, '', 'admin',"
            " '2026-11-30 08:00:00', :nonce)"
        ), {"nonce": "n" * 32})
        connection.execute(text(
            "INSERT INTO presence (plate, zone_id, household_id, pass_id, entered_at, passage_id)"
            " VALUES ('京N99Q77', 'P1', 1, 7, '2026-11-30 09:00:00', 2)"
        ))

    migrate(engine)

    with engine.connect() as connection:
        inside = connection.execute(text("SELECT plate, household_id, pass_id FROM presence")).all()
        assert [tuple(row) for row in inside] == [("京N99Q77", 1, 7)]
        if engine.dialect.name == "sqlite":
            # The upgrade turned them off on its connection; the pool must not hand it out so.
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_an_upgrade_that_fails_halfway_changes_nothing_and_runs_again(engine: Engine) -> None:
    _to(engine, "0010")

    def fail(
        _conn: object, _cursor: DBAPICursor, statement: str, _params: object,
        _context: ExecutionContext | None, _many: bool,
    ) -> None:
        # 0013's first statement: 0011 and 0012 have run by then (a power cut, a full disk).
        if "weekdays" in statement:
            raise RuntimeError("the upgrade stops here")

    event.listen(engine, "before_cursor_execute", fail)
    with pytest.raises(RuntimeError, match="the upgrade stops here"):
        migrate(engine)
    event.remove(engine, "before_cursor_execute", fail)

    assert _revision(engine) == "0010"
    indexes = {ix["name"] for table in ("passages", "audit_log")
               for ix in inspect(engine).get_indexes(table)}
    assert not indexes & HEAD_ONLY_INDEXES, f"0011 stayed half-applied: {indexes}"
    columns = {c["name"] for c in inspect(engine).get_columns("alarms")}
    assert "acknowledged_note" not in columns, "0012 stayed half-applied"

    migrate(engine)  # the next start
    assert _revision(engine) == known_revisions()[-1]
