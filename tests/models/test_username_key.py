"""One account per username, case and width folded, enforced by the database itself.

``create_user`` looks for a case variant before inserting, but two admins creating "guard1" and
"GUARD1" at the same moment both pass that look. The ``username_key`` column (NFKC, lower
case) is unique, so the second insert fails in the database and ``create_user`` answers 409.
Migration 0004 fills the key for users already stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import IntegrityError

from errors import ConflictError
from models.db import (
    create_db_engine,
    migrate,
    transaction,
)
from models.people import User, username_key
from services.users import create_user
from tests.models.migration_steps import upgrade_to


@pytest.mark.parametrize(
    ("name", "key"),
    [("guard1", "guard1"), ("GUARD1", "guard1"), ("ｇｕａｒｄ１", "guard1"), ("Élise", "élise"),
     ("ÉLISE", "élise"), ("张伟", "张伟")],
)
def test_the_key_folds_width_and_case(name: str, key: str) -> None:
    assert username_key(name) == key


@pytest.mark.parametrize("variant", ["GUARD1", "Guard1", "ＧＵＡＲＤ１"])
def test_a_direct_insert_of_a_case_variant_is_refused_by_the_database(
    sessions: Any, variant: str
) -> None:
    with transaction(sessions) as session:
        create_user(session, "guard1", "booth-password-1", "guard")
    engine = sessions.kw["bind"]
    # Core, past create_user and its look-up: the key is filled in from the username.
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(
            insert(User).values(username=variant, password_hash="x", role="guard")
        )
    # Plain SQL that leaves the key out is refused too (it may not be NULL).
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO users (username, password_hash, role, active, created_at) "
            "VALUES (:name, 'x', 'guard', true, CURRENT_TIMESTAMP)"
        ), {"name": variant})
    with sessions() as session:
        assert list(session.scalars(select(User.username))) == ["guard1"]


def test_non_ascii_case_variants_are_one_account_on_every_database(sessions: Any) -> None:
    # SQLite's lower() folds ASCII only: a look-up or index on lower(username) would let
    # "élise" in next to "Élise" there. The key is folded in Python, the same everywhere.
    with transaction(sessions) as session:
        create_user(session, "Élise", "booth-password-1", "guard")
    with pytest.raises(ConflictError), transaction(sessions) as session:
        create_user(session, "élise", "booth-password-1", "guard")


def test_a_creation_racing_another_is_a_409_not_a_500(sessions: Any) -> None:
    """The other admin's "GUARD1" is committed after this one's look-up, before its insert."""

    def other_admin_commits(*_: Any) -> None:
        with transaction(sessions) as other:
            create_user(other, "GUARD1", "booth-password-2", "guard")

    with transaction(sessions) as session:
        event.listen(session, "before_flush", other_admin_commits, once=True)
        with pytest.raises(ConflictError, match="guard1"):
            create_user(session, "guard1", "booth-password-1", "guard")
        # The refusal happened in a savepoint: the caller's transaction is still usable.
        assert session.scalar(select(User.username)) == "GUARD1"
    with sessions() as session:
        assert list(session.scalars(select(User.username))) == ["GUARD1"]


def test_migration_0004_keys_users_already_stored(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        upgrade_to(engine, "0003")
        with engine.begin() as connection:
            # Case variants stored before any check existed (or by the race) are kept apart:
            # the first keeps its name, the later ones get their id appended.
            for name in ("admin", "Guard1", "ｇｕａｒｄ１", "GUARD1", "张伟", "x" * 64, "X" * 64):
                connection.execute(text(
                    "INSERT INTO users (username, password_hash, role, active, created_at) "
                    "VALUES (:name, 'x', 'guard', true, '2026-01-01 00:00:00')"
                ), {"name": name})

        migrate(engine)

        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id, username, username_key FROM users ORDER BY id")
            ).all()
        assert [(name, key) for _, name, key in rows] == [
            ("admin", "admin"),
            ("Guard1", "guard1"),
            ("ｇｕａｒｄ１~3", "guard1~3"),
            ("GUARD1~4", "guard1~4"),
            ("张伟", "张伟"),
            ("x" * 64, "x" * 64),
            ("X" * 62 + "~7", "x" * 62 + "~7"),
        ]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                insert(User).values(username="ADMIN", password_hash="x", role="admin")
            )
    finally:
        engine.dispose()
