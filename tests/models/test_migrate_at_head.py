"""``migrate`` runs on every start: a database already at the newest revision is left to
itself without alembic (which re-read every migration script each time), and any other is
still migrated by alembic, in the same process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, text

import models.db
from models.db import create_db_engine, head_revision, known_revisions, migrate
from tests.models.migration_steps import upgrade_to


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def alembic_upgrades(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The targets alembic's upgrade was called with (by anyone: it is alembic's own
    function), the upgrade still done."""
    calls: list[str] = []
    real = command.upgrade

    def counted(config: Any, revision: str, **kwargs: Any) -> None:
        calls.append(revision)
        real(config, revision, **kwargs)

    monkeypatch.setattr(models.db.command, "upgrade", counted)
    return calls


def revision_of(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())


def test_the_head_is_the_newest_known_revision() -> None:
    assert head_revision() == known_revisions()[-1]


def test_a_database_at_the_head_is_not_migrated_again(
    engine: Engine, alembic_upgrades: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    migrate(engine)
    assert alembic_upgrades == ["head"]  # a new database: created by alembic
    with caplog.at_level(logging.INFO, logger="models.db"):
        migrate(engine)
    assert alembic_upgrades == ["head"]  # the second start did not call it
    assert revision_of(engine) == head_revision()
    assert [r.getMessage() for r in caplog.records if r.name == "models.db"] == [
        f"database schema at revision {head_revision()}: up to date, no migration ran"
    ]


@pytest.mark.parametrize("older", ["0010", known_revisions()[-2]])
def test_an_older_database_is_still_migrated_after_one_at_the_head(
    engine: Engine, alembic_upgrades: list[str], older: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The head known to the process (as after a first start) does not make an older
    database look up to date: it is upgraded, columns and all."""
    assert head_revision() is not None
    upgrade_to(engine, older)
    assert revision_of(engine) == older
    alembic_upgrades.clear()
    with caplog.at_level(logging.INFO, logger="models.db"):
        migrate(engine)
    assert alembic_upgrades == ["head"]
    assert revision_of(engine) == head_revision()
    assert [r.getMessage() for r in caplog.records if r.name == "models.db"] == [
        f"database schema upgraded from revision {older} to {head_revision()}"
    ]
