"""users username key

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:00:00.000000

A unique, case- and width-folded copy of each username, so that the database refuses a second
account differing only in case ("GUARD1" next to "guard1") even when two admins create them at
the same moment. Folded here in Python, as the application folds it (an index on
lower(username) would fold only ASCII on SQLite).

Users already stored get their key here. Accounts that fold to a name taken by an older
account (stored before the application looked for case variants, or by that race) cannot
keep their name: each gets its id appended ("GUARD1" → "GUARD1~7"), is logged, and signs in
under the new name from now on.
"""
from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("migrations.0004")

USERNAME_CHARS = 64


def _key(username: str) -> str:
    # A copy of models.people.username_key as it was at this revision: a migration must not
    # change meaning when the application's code does later.
    return unicodedata.normalize("NFKC", username).lower()


def _renamed(username: str, user_id: int, taken: set[str]) -> str:
    suffix = f"~{user_id}"
    while True:
        name = username[: USERNAME_CHARS - len(suffix)] + suffix
        if _key(name) not in taken:
            return name
        suffix = "~" + suffix  # only if someone was literally called "guard1~7" already


def upgrade() -> None:
    # Added nullable, filled row by row (each key comes from its own username), then made
    # NOT NULL and unique.
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('username_key', sa.String(length=128), nullable=True))

    users = sa.table('users', sa.column('id', sa.Integer()),
                     sa.column('username', sa.String(length=64)),
                     sa.column('username_key', sa.String(length=128)))
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.username).order_by(users.c.id)).all()
    taken = {_key(name) for _, name in rows}
    keyed: set[str] = set()
    for user_id, username in rows:  # oldest first: the first account keeps its name
        key = _key(username)
        values = {'username_key': key}
        if key in keyed:
            new_name = _renamed(username, user_id, taken | keyed)
            key = _key(new_name)
            values = {'username': new_name, 'username_key': key}
            logger.warning(
                "user %d %r differs only in case or width from an older account: renamed %r",
                user_id, username, new_name,
            )
        keyed.add(key)
        bind.execute(users.update().where(users.c.id == user_id).values(**values))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('username_key', existing_type=sa.String(length=128),
                              nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_users_username_key'), ['username_key'])


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_users_username_key'), type_='unique')
        batch_op.drop_column('username_key')
