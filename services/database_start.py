"""Opening the database at start-up and bringing it up to date, whether or not it answers yet.

A controller must start while its database is down (the gates decide offline, the journal
waits): ``prepare_database`` is tried once by ``build_services`` and, when the database does
not answer, again by the services' background loop until it does. What it does is idempotent:
the schema migrated to head, the configured zones and gates mirrored into the database.

It must not start on the wrong database either. A controller whose SQLite file was deleted
would otherwise create an empty one in its place (every resident unknown, passage ids from 1
again, ids the city hub already has); a PostgreSQL database dropped and created again looks
the same. So when ``data_dir`` shows that a database was used before (``data_dir_history``), a
missing SQLite file or an empty database is refused, with one line, unless the operator says
so (``allow_new_database``, ``--allow-new-database``).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from errors import DatabaseStartError
from models.db import (
    create_db_engine,
    failure_text,
    migrate,
    outage_as_unavailable,
    sqlite_path,
    transaction,
)
from services.site import sync_site
from settings import Settings

logger = logging.getLogger(__name__)

# Written once the database has answered and is up to date: this data_dir has a database.
MARKER = "database.marker"
_HOW_TO_ALLOW = ("or start with --allow-new-database (PARKGATE_ALLOW_NEW_DATABASE=true) to "
                 "begin with an empty one: every resident unknown, passage ids from 1 again")


def data_dir_history(data_dir: Path) -> tuple[str, ...]:
    """What in ``data_dir`` shows that this controller worked with a database before.

    Read once at start, before this run writes anything: a first start during an outage
    journals passages too, and must still be able to begin with an empty database."""
    found = []
    if (data_dir / MARKER).is_file():
        found.append(MARKER)
    if (data_dir / "journal" / "offline_snapshot.json").is_file():
        found.append("an offline snapshot")
    if (data_dir / "journal" / "passages.jsonl").is_file():
        found.append("journalled passages")
    if (data_dir / "journal" / "audit.jsonl").is_file():
        found.append("journalled gate actions")
    snapshots = data_dir / "snapshots"
    if snapshots.is_dir() and any(p.is_file() for p in snapshots.rglob("*")):
        found.append("passage snapshots")
    return tuple(found)


def open_database(settings: Settings, history: tuple[str, ...]) -> Engine:
    """The engine; refuses (``DatabaseStartError``) to create a missing SQLite file over
    history unless allowed."""
    url = settings.resolved_database_url
    path = sqlite_path(url)
    if path is not None and not path.exists():
        if history and not settings.allow_new_database:
            raise DatabaseStartError(
                f"refusing to start: the SQLite database {path} is missing, but "
                f"{settings.data_dir} shows one was used ({', '.join(history)}). Put the file "
                f"back, {_HOW_TO_ALLOW}"
            )
        if history:
            logger.warning("the SQLite database %s is missing and %s shows one was used (%s): "
                           "creating a NEW EMPTY database because allow_new_database is set",
                           path, settings.data_dir, ", ".join(history))
            set_aside_old_records(settings.data_dir)
    return create_db_engine(url)


def prepare_database(
    engine: Engine,
    sessions: sessionmaker[Session],
    settings: Settings,
    history: tuple[str, ...] = (),
    *,
    site: bool = True,
) -> None:
    """Migrate and sync the site, then mark ``data_dir`` as having a database.

    ``site=False`` for a command run beside the controller (``create-user``,
    ``import-residents``, ``enrol-faces``): the zones and gates are the controller's, and such
    a command is often run without the controller's configuration, whose built-in demo
    community would otherwise retire the live zones (their counts dropped to 0) and put the
    demo's in the reports.

    ``StoreUnavailableError`` while the database cannot be reached (retry later);
    ``DatabaseStartError`` when it answers but must not or cannot be used (empty over
    ``history``, a migration fails, a schema newer than this code): retrying will not help."""
    try:
        with outage_as_unavailable():
            empty = not inspect(engine).has_table("alembic_version")
            if empty and history:
                _refuse_or_warn_empty(engine, settings, history)
            migrate(engine)
            if site:
                with transaction(sessions) as session:
                    sync_site(session, settings.community)
    except (CommandError, SQLAlchemyError) as err:
        raise DatabaseStartError(_cannot_migrate(engine, err)) from err
    marker = settings.data_dir / MARKER
    if not marker.is_file() or (empty and history):
        _write_marker(marker, engine)


def migrate_or_refuse(engine: Engine) -> None:
    """Only the migration, for a command that reads (``report``): a damaged or too-new
    database is the same one-line refusal as :func:`prepare_database`, and the site is not
    rewritten from whatever settings the report was run with."""
    try:
        with outage_as_unavailable():
            migrate(engine)
    except (CommandError, SQLAlchemyError) as err:
        raise DatabaseStartError(_cannot_migrate(engine, err)) from err


def _cannot_migrate(engine: Engine, err: Exception) -> str:
    return (f"database {engine.url.render_as_string()} cannot be brought up to date: "
            f"{failure_text(err)}")


def _refuse_or_warn_empty(engine: Engine, settings: Settings, history: tuple[str, ...]) -> None:
    where = engine.url.render_as_string()
    if not settings.allow_new_database:
        raise DatabaseStartError(
            f"refusing to use database {where}: it is empty (never migrated), but "
            f"{settings.data_dir} shows one was used ({', '.join(history)}). Restore it, "
            f"{_HOW_TO_ALLOW}"
        )
    logger.warning("database %s is empty and %s shows one was used (%s): starting a NEW "
                   "EMPTY database because allow_new_database is set", where,
                   settings.data_dir, ", ".join(history))
    set_aside_old_records(settings.data_dir)


def set_aside_old_records(data_dir: Path) -> None:
    """A new database is begun over an old one's records: the journal and the offline
    snapshot name households, residents and passes of the old database (ids that mean nothing
    or something else in the new one), so they are kept aside for a person, not written."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for name in ("passages.jsonl", "audit.jsonl", "offline_snapshot.json"):
        old = data_dir / "journal" / name
        if old.is_file():
            kept = old.with_name(f"{old.stem}.previous-database-{stamp}{old.suffix}")
            os.replace(old, kept)
            logger.warning("%s belongs to the previous database: kept aside as %s, not "
                           "written to the new one", old, kept)


def _write_marker(marker: Path, engine: Engine) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        f"parkgate has used the database {engine.url.render_as_string()} with this directory "
        f"since {datetime.now(UTC).isoformat(timespec='seconds')}.\n"
        "While this file is here, parkgate refuses to start on a missing SQLite file or an "
        "empty database\n(README, 'When the database is down'); --allow-new-database "
        "overrides that.\n",
        encoding="utf-8",
    )
