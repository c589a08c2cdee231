"""A database left at an older schema revision, for the tests of the migrations after it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from models.db import alembic_config


def upgrade_to(engine: Engine, revision: str) -> None:
    """The schema as ``revision`` left it: a test then stores rows as that version did and
    runs the upgrade from there (models.db.migrate), as a start of the new version would."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
