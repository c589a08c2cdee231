"""The staff accounts a login can be checked against while the database is down.

Logging in needs the password hash, which lives in the user row; during a database outage
that row cannot be read, yet that is when the gates need a guard most (the booth page logs
itself out after 15 idle minutes, a shift changes, the controller restarts after a power cut
that also took the database server down). So the controller keeps, for every staff account
the database last answered active, its name, role, argon2 hash and sessions generation (which
ends the sessions from before a deactivation, services/passwords.py): refreshed with the gates'
offline snapshot (every ``access.offline_refresh_s``), at each login and on every request
that asks the database whether an account is still active. An account found deactivated or
missing is forgotten at once.

With ``access.offline_logins`` on (the default) the same list is kept on local disk, next to
the passage journal (``journal/staff_accounts.json``, mode 600, written atomically), so a
controller that starts while the database is down still lets its guards in. The file holds
what the database holds (salted argon2 hashes, never a password) and no other personal
information. Turned off, nothing is written and a file left by an earlier run is removed:
after a restart during an outage nobody can log in until the database answers.

What cannot be known during an outage: a password changed or an account deactivated since the
last refresh (at most ``offline_refresh_s`` earlier, unless the change went through this
controller, which applies it at once). Until the database answers, the old answer stands.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from models.people import User, username_key
from services.passage_journal import replace_durably
from services.passwords import password_stamp
from wall_clock import utcnow

logger = logging.getLogger(__name__)

FORMAT = "parkgate.staff_accounts/1"


@dataclass(frozen=True, slots=True)
class KnownAccount:
    """An account as the database last answered it, active."""

    username: str
    role: str
    password_hash: str = field(repr=False)  # out of logs and tracebacks
    # User.sessions_generation: a token issued before the account was last deactivated (or
    # its role changed) carries an older one in its stamp and is refused during an outage too.
    sessions_generation: int = 0

    @classmethod
    def of(cls, user: User) -> KnownAccount:
        return cls(user.username, user.role, user.password_hash, user.sessions_generation)

    @property
    def stamp(self) -> str:
        """The password stamp a session logged in to this account now carries."""
        return password_stamp(self.password_hash, self.sessions_generation)


# The file is written again at least this often while the database answers, so its age says
# how long ago the database last vouched for it (its content changes rarely).
REWRITE_S = 3600.0


class StaffFile:
    """The known accounts on local disk: one JSON file, replaced atomically.

    A file older than ``max_age_s`` is not used: it was written before the controller was
    switched off for long, or came back with a restored backup of the data directory, and
    accounts deactivated since would log in on it.
    """

    def __init__(
        self, path: Path, *, max_age_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.max_age_s = max_age_s
        self._clock = clock
        self._written_at: float | None = None

    def save(self, accounts: Iterable[KnownAccount]) -> None:
        body = json.dumps(
            {
                "format": FORMAT,
                "saved_at": utcnow().isoformat(timespec="seconds"),
                "accounts": [
                    {"username": a.username, "role": a.role, "password_hash": a.password_hash,
                     "sessions_generation": a.sessions_generation}
                    for a in sorted(accounts, key=lambda a: a.username)
                ],
            },
            ensure_ascii=False, separators=(",", ":"),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace_durably(self.path, [body])
        self._written_at = self._clock()

    def due(self) -> bool:
        """Whether to write the same content again (see :data:`REWRITE_S`)."""
        return self._written_at is None or self._clock() - self._written_at >= REWRITE_S

    def load(self) -> list[KnownAccount]:
        """The accounts last saved; none when there is no file or it cannot be read (logged:
        nobody can then log in during an outage, which is the safe way to fail)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            age = (utcnow() - datetime.fromisoformat(data["saved_at"])).total_seconds()
            if age > self.max_age_s:
                logger.warning(
                    "staff accounts file %s is %.1f days old (access.offline_logins_max_age_days"
                    " is %.1f): not used, so nobody can log in during an outage until the "
                    "database answers", self.path, age / 86400, self.max_age_s / 86400,
                )
                return []
            # A file written before accounts had a sessions generation: every one was 0.
            return [
                KnownAccount(str(a["username"]), str(a["role"]), str(a["password_hash"]),
                             int(a.get("sessions_generation", 0)))
                for a in data["accounts"]
            ]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as err:
            logger.warning("staff accounts file %s unreadable, not used: %s", self.path, err)
            return []

    def remove(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        except OSError as err:  # the controller still starts; the file stays readable by us only
            logger.warning("staff accounts file %s not removed (access.offline_logins is off): "
                           "%s", self.path, err)
            return
        logger.info("staff accounts file %s removed (access.offline_logins is off)", self.path)


class LastSeenActive:
    """The accounts whose last answer from the database was "active", by the folded name a
    login matches (``username_key``); kept in ``store`` too when one is given.

    A change is written to the store before the call returns, so a controller stopped right
    after a guard was deactivated does not bring the guard back from disk.
    """

    def __init__(self, store: StaffFile | None = None) -> None:
        self._accounts: dict[str, KnownAccount] = {}
        self._store = store
        self._lock = threading.Lock()  # sync routes run in worker threads
        # A logical clock: every mark a reader takes (refresh_mark) and every remember/forget
        # gets the next tick, so "this read began before that change" is a comparison. Changes
        # are kept by account until a full list newer than them has been applied (the floor);
        # a read that began before that list is not used at all.
        self._changes = 0
        self._changed_at: dict[str, int] = {}
        self._floor = 0
        if store is not None:
            for account in store.load():
                self._accounts[username_key(account.username)] = account
            if self._accounts:
                logger.info("%d staff account(s) known from %s for logins during a database "
                            "outage", len(self._accounts), store.path)

    def remember(self, account: KnownAccount, mark: int | None = None) -> None:
        """Know ``account`` as the database answered it; ``mark`` (:meth:`refresh_mark`,
        taken before that read) keeps a read that began before a forget from undoing it: a
        guard deactivated while their own page was reading the row stays forgotten."""
        with self._lock:
            key = username_key(account.username)
            if mark is not None and (mark < self._floor or self._changed_at.get(key, 0) > mark):
                return  # older than what is known: the next request reads it again
            self._note_change(key)
            if self._accounts.get(key) != account:
                self._accounts[key] = account
                self._save()

    def forget(self, username: str) -> None:
        with self._lock:
            key = username_key(username)
            self._note_change(key)
            if self._accounts.pop(key, None) is not None:
                self._save()

    def refresh_mark(self) -> int:
        """Take this before reading the database for :meth:`replace_all` or
        :meth:`remember`."""
        with self._lock:
            self._changes += 1
            return self._changes

    def replace_all(self, accounts: Iterable[KnownAccount], mark: int) -> None:
        """Know exactly ``accounts`` (every active one the database listed, read after
        ``mark`` was taken), except for accounts learnt or forgotten since ``mark``: those
        answers are newer than the list (a guard deactivated while it was being read must not
        come back with it)."""
        fresh = {username_key(a.username): a for a in accounts}
        with self._lock:
            for key, at in self._changed_at.items():
                if at > mark:
                    fresh.pop(key, None)
                    if key in self._accounts:
                        fresh[key] = self._accounts[key]
            if fresh != self._accounts or (self._store is not None and self._store.due()):
                self._accounts = fresh
                self._save()
            # What is older than this list is settled by it: forget it (names that are no
            # account, typed at the login form, do not pile up).
            self._changed_at = {k: at for k, at in self._changed_at.items() if at > mark}
            self._floor = max(self._floor, mark)

    def get(self, username: str) -> KnownAccount | None:
        with self._lock:
            return self._accounts.get(username_key(username))

    def __contains__(self, username: object) -> bool:
        return isinstance(username, str) and self.get(username) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._accounts)

    def _note_change(self, key: str) -> None:
        self._changes += 1
        self._changed_at[key] = self._changes

    def _save(self) -> None:
        if self._store is None:
            return
        try:
            self._store.save(self._accounts.values())
        except OSError as err:  # the memory still answers; only a restart would miss it
            logger.warning("staff accounts not saved to %s: %s", self._store.path, err)


def active_staff(sessions: sessionmaker[Session]) -> list[KnownAccount]:
    """Every active staff account as the database has it now."""
    with sessions() as session:
        rows = session.execute(
            select(User.username, User.role, User.password_hash, User.sessions_generation)
            .where(User.active)
        ).all()
    return [KnownAccount(r.username, r.role, r.password_hash, r.sessions_generation)
            for r in rows]


def open_known_staff(
    journal_dir: Path, *, on_disk: bool, max_age_days: float = 7.0
) -> LastSeenActive:
    """The controller's memory of active staff, loaded from (and kept in) ``journal_dir``
    when ``on_disk``; otherwise in memory only, and an earlier run's file is removed."""
    store = StaffFile(journal_dir / "staff_accounts.json", max_age_s=max_age_days * 86400)
    if on_disk:
        return LastSeenActive(store)
    store.remove()
    return LastSeenActive()
