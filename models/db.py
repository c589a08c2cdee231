"""Engine, sessions and migrations.

SQLite is opened in WAL mode with a busy time-out so the API, camera workers and reports can
read while a passage is being written; PostgreSQL is used as is.

Two lock waits: a writer that finds SQLite locked waits up to ``BUSY_TIMEOUT_MS`` (admin
edits, migrations: better late than refused), but a gate's transactions (its passage, the
journal write-back it does first, its alarms) wait only ``GATE_BUSY_TIMEOUT_MS`` and the car
is then decided offline and journalled, so it is not kept at a closed barrier for as long as
someone else holds the lock. On PostgreSQL the gate's transactions get the same bound as a
``lock_timeout``; its "canceling statement due to lock timeout" is an OperationalError like
SQLite's "database is locked", so both end the same way (:func:`outage_as_unavailable`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

from errors import StoreUnavailableError
from models.sqlite_file import SqliteFile

logger = logging.getLogger(__name__)

# Connection-level failures (server down, network cut, pool exhausted): an outage, not a bug.
DATABASE_DOWN: tuple[type[Exception], ...] = (OperationalError, InterfaceError, PoolTimeoutError)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# Writers that may wait: a lock held this long is a real outage, not a slow neighbour.
BUSY_TIMEOUT_MS = 10_000
# A gate's passage: a whole passage transaction (reads, writes, one fsync) took 7 ms p50,
# 13 ms p99 and 137 ms at worst over 300 passages on the development box, so 1.5 s runs out
# only when something holds the lock far longer than any passage does (a bulk import, a stuck
# process, a backup tool). The car is then decided offline instead of after 10 s.
GATE_BUSY_TIMEOUT_MS = 1_500
_BUSY_KEY = "parkgate_busy_timeout_ms"


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed passage survives a power cut too (NORMAL in WAL mode may lose the last
    # commits); one fsync per commit is nothing at a gate's rate.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A deleted row (a face embedding erased on request, PIPL) is overwritten with zeros in
    # the database file, not left in its free pages. Many builds default to it; not all do.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()
    record.info[_BUSY_KEY] = BUSY_TIMEOUT_MS


def _sqlite_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # A connection a gate used comes back with its short time-out: restore the default.
    if record.info.get(_BUSY_KEY, BUSY_TIMEOUT_MS) != BUSY_TIMEOUT_MS:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        record.info[_BUSY_KEY] = BUSY_TIMEOUT_MS


def set_busy_timeout(session: Session, milliseconds: int) -> None:
    """How long this session waits for a lock: on SQLite its connection's busy time-out
    (until it is checked in again), on PostgreSQL its transaction's ``lock_timeout``."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # SET LOCAL ends with the transaction: the pooled connection goes back with the
        # server's own setting for the next (admin) writer. No statement_timeout: a slow read
        # on this path (the offline snapshot reads every plate) is not a lock held elsewhere.
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {int(milliseconds)}")
        return
    if connection.dialect.name != "sqlite":
        return
    info = connection.connection.info
    if info.get(_BUSY_KEY) != milliseconds:
        connection.exec_driver_sql(f"PRAGMA busy_timeout={int(milliseconds)}")
        info[_BUSY_KEY] = milliseconds


# A truncating checkpoint holds new writers back while it waits for readers: a gate's write
# waits at most this long for it, well inside GATE_BUSY_TIMEOUT_MS.
WAL_EMPTY_BUSY_MS = 300


def empty_write_ahead_log(engine: Engine) -> bool:
    """SQLite: copy the write-ahead log into the database file and truncate it. The log keeps
    the page images written before a deletion or an anonymisation (a face embedding, a plate)
    until it happens to be overwritten; ``secure_delete`` zeroes them in the database file
    itself. True when done; False when readers held it past the short busy time-out (the
    next run tries again). Nothing to do on other databases (README, Privacy)."""
    if engine.dialect.name != "sqlite":
        return True
    with engine.connect() as connection:
        info = connection.connection.info
        connection.exec_driver_sql(f"PRAGMA busy_timeout={WAL_EMPTY_BUSY_MS}")
        info[_BUSY_KEY] = WAL_EMPTY_BUSY_MS  # the next checkout restores the default
        busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
    return bool(busy == 0)


def sqlite_path(url: str) -> Path | None:
    """The database file of an SQLite URL; None for other databases and in-memory ones."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None  # a URI: the caller chose its own open mode
    return Path(database).resolve()


def create_db_engine(url: str, *, create: bool = True) -> Engine:
    """``create``: create a missing SQLite file (else connections fail until it appears)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            # Watched: a file deleted or replaced while running is an outage, and a missing
            # one is never created behind the controller's back (models/sqlite_file.py).
            watched = SqliteFile(path, create=create)
            engine = create_engine(url, creator=watched.connect)
            event.listen(engine, "checkout", watched.check_out)
        else:
            engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "checkout", _sqlite_checkout)
        return engine
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
        # An unreachable host must not hang a gate for minutes: after this the gate decides
        # offline (controllers.offline) instead of waiting.
        connect_args["connect_timeout"] = 3
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=5,
        connect_args=connect_args,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(
    factory: sessionmaker[Session], *, busy_timeout_ms: int | None = None
) -> Iterator[Session]:
    """One unit of work: committed on success, rolled back on any error.

    ``busy_timeout_ms``: wait at most this long for a lock (``GATE_BUSY_TIMEOUT_MS`` on a
    gate's path) instead of ``BUSY_TIMEOUT_MS`` on SQLite, or as long as it takes on
    PostgreSQL."""
    with factory() as session, session.begin():
        if busy_timeout_ms is not None:
            set_busy_timeout(session, busy_timeout_ms)
        yield session


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def _migration_scripts() -> ScriptDirectory:
    """This code's migration scripts. Read once: the migration files do not change under a
    running process, and every migrate (each start, each command) asks."""
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


@functools.cache
def known_revisions() -> tuple[str, ...]:
    """The schema revisions this code's migrations know, oldest first."""
    return tuple(reversed([rev.revision for rev in _migration_scripts().walk_revisions()]))


@functools.cache
def head_revision() -> str | None:
    """The newest revision of this code's migrations; None if they had several heads (then
    only alembic itself says what upgrading means)."""
    heads = _migration_scripts().get_heads()
    return heads[0] if len(heads) == 1 else None


def unknown_revision_text(revision: str) -> str | None:
    """Why a database (or a backup) at ``revision`` cannot be used by this code, or None when
    this code knows it: a newer parkgate wrote it (a new box installed from an older checkout
    than the one whose backup it restores), and alembic alone says only that it "can't locate
    revision"."""
    known = known_revisions()
    if revision in known:
        return None
    return (f"schema revision {revision} is newer than this parkgate knows (newest "
            f"{known[-1]}): it was written by a newer parkgate; install that version or a "
            "newer one here (git pull, bash scripts/install.sh)")


# The transaction-scoped advisory lock migrations take on PostgreSQL ("migrate!" in ASCII).
MIGRATION_LOCK_KEY = int.from_bytes(b"migrate!", "big")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (run on every start; idempotent).

    Logs what it did, so that whoever upgrades parkgate reads whether migrations ran (and
    from which revision) or there was nothing to do."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        try:
            if sqlite:
                _begin_sqlite_upgrade(connection)
            elif connection.dialect.name == "postgresql":
                # Two migrating at once (an upgraded controller starting while create-user or
                # import-residents runs beside it) would both create the same tables: the
                # second waits here until the first commits, then finds the schema up to date.
                # Held to the end of this transaction, which is the whole upgrade.
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            config.attributes["connection"] = connection
            before = MigrationContext.configure(connection).get_current_revision()
            why = unknown_revision_text(before) if before is not None else None
            if why is not None:
                raise CommandError(f"the database's {why}")
            if before is not None and before == head_revision():
                # Nothing to do, as on most starts: alembic would load env.py and every
                # migration script again (~40 ms of CPU) only to find that out.
                after: str | None = before
            else:
                command.upgrade(config, "head")
                after = MigrationContext.configure(connection).get_current_revision()
            connection.commit()
        finally:
            if sqlite:
                _end_sqlite_upgrade(connection)
    where = {"url": engine.url.render_as_string()}
    if before is None:
        logger.info("database schema created at revision %s", after, extra=where)
    elif before == after:
        logger.info(
            "database schema at revision %s: up to date, no migration ran", after, extra=where
        )
    else:
        logger.info("database schema upgraded from revision %s to %s", before, after, extra=where)


def _begin_sqlite_upgrade(connection: Connection) -> None:
    """Open the one transaction an SQLite upgrade runs in, with foreign keys off.

    Python's sqlite3 driver opens a transaction only before a data change, so the DDL of the
    first migration of an upgrade (0011's indexes) was committed at once: an upgrade that
    failed or lost power later left those in place at the old revision, and every start after
    it failed with "index … already exists". An explicit BEGIN makes the whole upgrade one
    transaction, as on PostgreSQL (IMMEDIATE: a second process migrating waits for it, as
    PostgreSQL's advisory lock makes it). Foreign keys are off because alembic's batch mode
    rebuilds a table by copying it and dropping the old one, and SQLite runs a dropped table's
    ON DELETE actions: rebuilding visitor_passes (0013, 0014) set every car inside's
    presence.pass_id to NULL (alembic's documentation asks for them off). The copy keeps every
    id, so no reference is left dangling. The pragma is ignored inside a transaction, so it
    comes first."""
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _end_sqlite_upgrade(connection: Connection) -> None:
    """Roll back what was not committed and turn the foreign keys back on before the
    connection goes back to the pool: no request may write on it without them. A connection
    whose state cannot be told is closed instead."""
    try:
        connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
    except DBAPIError:
        connection.invalidate()


def failure_text(err: BaseException) -> str:
    """The first line of the driver's own message (not SQLAlchemy's wrapper with the SQL and a
    link): what an operator needs in one log line."""
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@contextmanager
def outage_as_unavailable() -> Iterator[None]:
    """:data:`DATABASE_DOWN` failures become StoreUnavailableError: the gates' cue to go
    offline. Anything else (a constraint, a bug) stays what it is."""
    try:
        yield
    except DATABASE_DOWN as err:
        raise StoreUnavailableError(f"database unavailable: {failure_text(err)}") from err
