"""Bringing the database up to date at start-up, whether or not it answers yet.

A controller must start while its database is down (the gates decide offline, the journal
waits): ``prepare_database`` is tried once by ``build_services`` and, when the database does
not answer, again by the services' background loop until it does. What it does is idempotent:
the schema migrated to head, the configured zones and gates mirrored into the database.
"""

from __future__ import annotations

import logging

from alembic.util.exc import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from errors import DatabaseStartError
from models.db import failure_text, migrate, outage_as_unavailable, transaction
from services.site import sync_site
from settings import Settings

logger = logging.getLogger(__name__)


def prepare_database(engine: Engine, sessions: sessionmaker[Session], settings: Settings) -> None:
    """Migrate and sync the site. ``StoreUnavailableError`` while the database cannot be
    reached (retry later); ``DatabaseStartError`` when it answers but cannot be used (a
    migration fails, the schema is newer than this code): retrying will not help."""
    try:
        with outage_as_unavailable():
            migrate(engine)
            with transaction(sessions) as session:
                sync_site(session, settings.community)
    except (CommandError, SQLAlchemyError) as err:
        raise DatabaseStartError(
            f"database {engine.url.render_as_string()} cannot be brought up to date: "
            f"{failure_text(err)}"
        ) from err
