"""One controller per database.

``services/instance_lock.py`` keeps a second controller off a data directory, but a second box
(a spare, the old box after its data was restored onto a new one, a test box with a copied
config) has a data directory of its own and may still be given the same database. Both then
serve the community as if alone: each drives its own idea of the gates, each publishes the
city feed under the community's one MQTT client id (the broker drops one for the other every
second), each takes back the guidance holds and replays its own journal, each runs the
retention jobs, and an upgrade has both migrate at once. So the controller (``serve``,
``demo``, an app the tests start) holds the database as well, for as long as it runs:

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection of its own,
  in autocommit (never idle in a transaction). The server drops it when that session ends,
  however the process ends: no stale lock after a crash or a power cut. Advisory locks are
  per database, so other databases on the server are not concerned. Who holds it is read
  from ``pg_stat_activity``: the lock's statement carries the holder (host, data_dir, pid,
  start) in a comment, and the server adds the client address and the session's start. No
  table: the lock is taken before migrating, when a table may not exist yet, and a row would
  live on in backups and restores after its holder is gone.
* SQLite: an exclusive ``flock`` on ``<database file>-controller.lock`` beside the file, as
  ``instance_lock`` locks the data directory (a file shared over a network mount is locked
  there too, where the mount supports locks), holding one line that names the holder.

Commands made to run beside the controller (create-user, import-residents, backup,
enrol-faces, reports) do not take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from errors import DatabaseStartError, StoreUnavailableError
from models.db import DATABASE_DOWN, failure_text, sqlite_path

logger = logging.getLogger(__name__)

# "parkgate" in ASCII, as the 64-bit key of the advisory lock.
LOCK_KEY = int.from_bytes(b"parkgate", "big")
_MARK = "parkgate-controller"
LOCK_SUFFIX = "-controller.lock"


class DatabaseInUseError(DatabaseStartError):
    """Another live controller serves this database."""

    where: str = ""  # the database, as DatabaseLock.where says it
    holder: str = ""  # the controller holding it (host, data_dir, pid, started …)


def holder_description(data_dir: Path) -> dict[str, Any]:
    machine = ""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        machine = Path("/etc/machine-id").read_text(encoding="utf-8").strip()
    return {
        "host": socket.gethostname(),
        "data_dir": str(data_dir.resolve()),
        "pid": os.getpid(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
    }


def holder_text(holder: dict[str, Any]) -> str:
    return (f"host {holder.get('host', '?')}, data_dir {holder.get('data_dir', '?')}, "
            f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}")


class DatabaseLock:
    """The database's lock, held by the controller serving it."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.holder = holder_description(data_dir)
        self._sqlite = sqlite_path(url)
        self._postgres = make_url(url).get_backend_name() == "postgresql"
        self._fd: int | None = None
        self._engine: Engine | None = None
        self._connection: Connection | None = None  # the session holding the advisory lock
        self._statement = ""  # the lock's statement, its holder in a comment

    @property
    def held(self) -> bool:
        return self._fd is not None or self._connection is not None

    @property
    def where(self) -> str:
        if self._sqlite is not None:
            return f"the SQLite database {self._sqlite}"
        return f"database {make_url(self.url).render_as_string()}"

    def acquire(self) -> None:
        """Take the lock (nothing when already held by this one); ``DatabaseInUseError``
        naming the holder when another controller has it, ``StoreUnavailableError`` when
        PostgreSQL cannot be reached (taken later, before the database is first used)."""
        if self.held:
            return
        if self._sqlite is not None:
            self._acquire_file(self._sqlite.with_name(self._sqlite.name + LOCK_SUFFIX))
        elif self._postgres:
            self._acquire_advisory()
        # Other databases (in-memory SQLite): nothing to share.

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # a dead session has dropped it already
                connection.close()  # the session ends: the server drops its advisory lock
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def keep(self) -> None:
        """Take the lock again if its session ended under the running controller (PostgreSQL
        restarted, a network cut the server noticed, an administrator's
        pg_terminate_backend): the server dropped the lock with the session, and a second
        box started after that would have been let in. The check is the lock's own
        statement again on its session (advisory locks stack in a session and all go with
        it, and the statement with its holder comment stays what others read of it).
        ``DatabaseInUseError`` when another controller took it meanwhile."""
        connection = self._connection
        if not self._postgres or not self._statement:
            return  # SQLite's file lock cannot be lost; never taken yet: finish_start takes it
        if connection is not None:
            try:
                if connection.exec_driver_sql(self._statement).scalar():
                    return
            except Exception as err:  # the session is gone: any driver error says so
                logger.warning("database lock: its session ended (%s); taking it again",
                               failure_text(err))
            self.release()
        self.acquire()
        logger.info("database lock: taken again")

    def _refusal(self, holder: str) -> DatabaseInUseError:
        refusal = DatabaseInUseError(
            f"refusing to serve {self.where}: another parkgate controller serves it "
            f"({holder}); two controllers on one database would both decide and record for "
            "the same gates, counts and city feed. Stop that one first (systemctl stop "
            "parkgate on its host), or give this one a database of its own"
        )
        refusal.where, refusal.holder = self.where, holder
        return refusal

    def _acquire_file(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = ""
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = os.pread(fd, 4096, 0).decode()
            os.close(fd)
            raise self._refusal(_file_holder(text)) from None
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(self.holder) + "\n").encode())
        self._fd = fd

    def _acquire_advisory(self) -> None:
        # Its own engine, no pool: this one connection lives as long as the lock, in
        # autocommit so that it is never a transaction left open.
        engine = create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                               connect_args={"connect_timeout": 3,
                                             "application_name": _MARK})
        # The holder rides in the statement's comment, which pg_stat_activity shows the
        # others. "/" and "%" escaped as JSON allows: the comment can neither end nor nest,
        # and the driver finds no placeholder in it.
        comment = json.dumps(self.holder).replace("/", "\\/").replace("%", "\\u0025")
        try:
            connection = engine.connect()
        except DATABASE_DOWN as err:
            engine.dispose()
            raise StoreUnavailableError(f"database unavailable: {failure_text(err)}") from err
        self._statement = f"SELECT pg_try_advisory_lock({LOCK_KEY}) /* {_MARK} {comment} */"
        try:
            self._take(connection, self._statement)
        except BaseException as err:
            with contextlib.suppress(Exception):
                connection.close()
            engine.dispose()
            if isinstance(err, DATABASE_DOWN):
                raise StoreUnavailableError(
                    f"database unavailable: {failure_text(err)}") from err
            raise
        self._engine, self._connection = engine, connection


    def _take(self, connection: Connection, statement: str) -> None:
        deadline = time.monotonic() + _TAKE_OVER_S
        while not connection.exec_driver_sql(statement).scalar():
            found = connection.exec_driver_sql(
                _HOLDER_QUERY.format(hi=LOCK_KEY >> 32, lo=LOCK_KEY & 0xFFFFFFFF)
            ).first()
            if found is None:
                continue  # it ended between the two statements
            stale = self._own_stale_session(found, connection)
            if not stale or time.monotonic() > deadline:
                raise self._refusal(_session_holder(found))
            # This controller's own previous run (crashed, restarted after a network cut):
            # the server has not noticed its session is gone, and may not for hours.
            logger.warning("database lock: ending the session %s left by this controller's "
                           "previous run (%s)", found[0], _session_holder(found))
            connection.exec_driver_sql(f"SELECT pg_terminate_backend({int(found[0])})")
            time.sleep(0.1)

    def _own_stale_session(self, found: Any, connection: Connection) -> bool:
        """Whether the holding session is this controller's from before: the same host and
        machine, the same data_dir (whose instance lock this process holds, so no other
        live process serves from it), from the same client address."""
        holder = _comment_holder(str(found[1] or ""))
        if holder is None:
            return False
        if any(holder.get(k) != self.holder[k] for k in ("host", "machine", "data_dir")):
            return False
        ours = connection.exec_driver_sql("SELECT host(inet_client_addr())").scalar()
        return bool(ours == found[2])


# A session of this controller's previous run is ended and the lock taken within this time.
_TAKE_OVER_S = 5.0

# The session holding the lock in this database: its statement (with the holder's comment),
# its client address and since when it is connected.
_HOLDER_QUERY = (
    "SELECT a.pid, a.query, host(a.client_addr), a.backend_start FROM pg_locks l "
    "JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {hi} AND l.objid = {lo} "
    "AND l.objsubid = 1 AND l.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)


def _file_holder(text: str) -> str:
    with contextlib.suppress(ValueError, AttributeError):
        holder = json.loads(text)
        if isinstance(holder, dict):
            return holder_text(holder)
    return "its holder did not say who it is"


def _comment_holder(query: str) -> dict[str, Any] | None:
    """The holder a lock statement's comment names, or None."""
    with contextlib.suppress(ValueError):
        start = query.index("{", query.index(_MARK))
        holder = json.loads(query[start:query.rindex("}") + 1])
        if isinstance(holder, dict):
            return holder
    return None


def _session_holder(row: Any) -> str:
    backend, query, client, since = row
    holder = _comment_holder(str(query or ""))
    if holder is not None:
        return f"{holder_text(holder)}; connected from {client or 'a local socket'}"
    when = since.isoformat(timespec="seconds") if since is not None else "?"
    return (f"PostgreSQL session {backend} from {client or 'a local socket'}, connected since "
            f"{when}; its host, data_dir and pid cannot be read with this role")
