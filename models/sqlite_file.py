"""The SQLite database file, watched: deleted or replaced under a running controller, it is
a database outage, never a silent new database.

SQLite keeps writing to a file that was deleted while it was open (the unlinked inode), and
opening a path that does not exist creates an empty database there. Either way passages would
vanish and ids would start again at 1 with nothing said. So every connection is opened with
``mode=rw`` (never created), and on every checkout from the pool the path is compared with the
file opened at start (device and inode): missing or different, the connection is dropped and
the caller gets an ``OperationalError``, which the gates treat as an outage (they decide
offline and journal). Putting the same file back (moving it, so its inode is the same) ends
the outage; a different file is refused until a restart, where ``build_services`` decides
whether a new database may be started (see ``services/database_start.py``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.exc import DisconnectionError

logger = logging.getLogger(__name__)


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the regular file at ``path``; None when there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None


class SqliteFile:
    """One database file: opens connections to it and tells whether it is still there."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            sqlite3.connect(path).close()  # an empty database: the migrations fill it
        self.identity = _identity(path)
        self._lock = threading.Lock()
        self._reported: str | None = None

    def problem(self) -> str | None:
        """Why the file at the path is not the database opened at start; None when it is."""
        now = _identity(self.path)
        if now is None:
            problem = f"SQLite database file {self.path} is missing (or not a file)"
        elif self.identity is None:
            self.identity = now  # it was missing at start and has appeared: this is it
            problem = None
        elif now != self.identity:
            problem = f"SQLite database file {self.path} was replaced by another file"
        else:
            problem = None
        self._report(problem)
        return problem

    def _report(self, problem: str | None) -> None:
        with self._lock:
            if problem == self._reported:
                return
            self._reported = problem
        if problem is None:
            logger.warning("SQLite database file %s is back; the gates use it again", self.path)
        elif "missing" in problem:
            logger.error("%s: treated as a database outage (gates decide offline and journal). "
                         "Put the file back; parkgate will not create an empty database in its "
                         "place", problem)
        else:
            logger.error("%s while parkgate runs: treated as a database outage (gates decide "
                         "offline and journal). Put the original back, or restart parkgate to "
                         "use the new file", problem)

    def connect(self) -> sqlite3.Connection:
        """A new connection (the engine's ``creator``): never creates the file."""
        problem = self.problem()
        if problem is not None:
            raise sqlite3.OperationalError(problem)
        connection = sqlite3.connect(
            f"file:{quote(str(self.path))}?mode=rw", uri=True, check_same_thread=False
        )
        if _identity(self.path) != self.identity:  # swapped while it was being opened
            connection.close()
            raise sqlite3.OperationalError(f"SQLite database file {self.path} was replaced")
        return connection

    def check_out(self, _dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        """Pool ``checkout`` hook: a pooled connection to a file that is gone is dropped (the
        pool then opens a new one through ``connect``, which refuses)."""
        problem = self.problem()
        if problem is not None:
            raise DisconnectionError(problem)
