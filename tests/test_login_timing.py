"""A login for a name that is no account takes as long as a wrong password for one, with
the database up and during an outage (checked against the accounts last seen active): else
the answer's time lists the accounts a guesser should try passwords on. It used to cost two
argon2 runs (a fresh hash, then a verify) against one, about twice as long."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

import services.passwords
from api.active_accounts import KnownAccount, check_login, last_seen_active
from models.db import transaction
from services.known_staff import LastSeenActive
from services.passwords import hash_password
from services.users import authenticate, create_user

PASSWORD = "correct-horse"


class CountingHasher:
    """The real argon2 hasher, counting its runs: the work a refusal costs, which is what a
    guesser times (counted rather than timed, so a busy machine cannot blur it)."""

    def __init__(self) -> None:
        self._real = PasswordHasher()
        self.runs: Counter[str] = Counter()

    def hash(self, password: str, **kwargs: Any) -> str:
        self.runs["hash"] += 1
        return self._real.hash(password, **kwargs)

    def verify(self, password_hash: str, password: str) -> bool:
        self.runs["verify"] += 1
        return self._real.verify(password_hash, password)


def argon2_runs(attempt: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    attempt()  # the first call may make the decoy hash once, for every later refusal
    hasher = CountingHasher()
    monkeypatch.setattr(services.passwords, "_hasher", hasher)
    attempt()
    monkeypatch.undo()
    return hasher.runs


def assert_same_work(
    unknown: Callable[[], object], wrong: Callable[[], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    no_account = argon2_runs(unknown, monkeypatch)
    wrong_password = argon2_runs(wrong, monkeypatch)
    assert no_account == wrong_password == Counter(verify=1), (no_account, wrong_password)



def test_with_the_database_a_missing_account_takes_as_long_as_a_wrong_password(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    with transaction(sessions) as session:
        create_user(session, "guard1", PASSWORD, "guard")

    def login(name: str, password: str) -> Callable[[], object]:
        def attempt() -> object:
            with transaction(sessions) as session:
                return authenticate(session, name, password)
        return attempt

    assert login("guard1", PASSWORD)() is not None
    assert login("nobody", PASSWORD)() is None
    assert_same_work(login("nobody", "wrong-horse"), login("guard1", "wrong-horse"), monkeypatch)


def test_during_an_outage_a_name_not_remembered_takes_as_long_as_a_wrong_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A database file that cannot be opened: every login finds the database down.
    down = sessionmaker(create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}"))
    app_state = SimpleNamespace(services=SimpleNamespace(staff=LastSeenActive()))
    last_seen_active(app_state).remember(
        KnownAccount("guard1", "guard", hash_password(PASSWORD))
    )

    def login(name: str, password: str) -> Callable[[], object]:
        def attempt() -> object:
            found = check_login(app_state, down, name, password)
            assert found.database_down
            return found.account
        return attempt

    assert login("guard1", PASSWORD)() is not None
    assert login("nobody", PASSWORD)() is None
    assert_same_work(login("nobody", "wrong-horse"), login("guard1", "wrong-horse"), monkeypatch)
