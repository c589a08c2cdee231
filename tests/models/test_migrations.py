"""The Alembic migrations build exactly the schema the models describe, on every database."""

from __future__ import annotations

import logging

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import models
from models.db import alembic_config, create_db_engine, migrate


def test_migrations_match_the_models_and_run_twice(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)  # every start runs it: a second run must be a no-op
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), models.Base.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
    finally:
        engine.dispose()


def test_each_start_logs_what_the_migrations_did(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Found walking an upgrade: every start logged "database schema at head", whether it had
    just created the schema, upgraded it or found nothing to do."""
    config = alembic_config(database_url)
    head = ScriptDirectory.from_config(config).get_current_head()
    engine = create_db_engine(database_url)

    def said() -> list[str]:
        lines = [r.getMessage() for r in caplog.records if r.name == "models.db"]
        caplog.clear()
        return lines

    try:
        with caplog.at_level(logging.INFO, logger="models.db"):
            with engine.begin() as connection:  # an older parkgate's database
                config.attributes["connection"] = connection
                command.upgrade(config, "0010")
            caplog.clear()
            migrate(engine)
            assert said() == [f"database schema upgraded from revision 0010 to {head}"]
            migrate(engine)
            assert said() == [f"database schema at revision {head}: up to date, no migration ran"]
    finally:
        engine.dispose()


def test_a_new_database_is_said_to_be_created(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_db_engine(database_url)
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    try:
        with caplog.at_level(logging.INFO, logger="models.db"):
            migrate(engine)
        lines = [r.getMessage() for r in caplog.records if r.name == "models.db"]
        assert lines == [f"database schema created at revision {head}"]
    finally:
        engine.dispose()
