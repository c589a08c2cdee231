"""passages admission

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 10:00:00.000000

What an allowed passage changed when it was committed (a visitor pass's use, the presence
row it added or removed, the zone count's move), kept with the passage so that a barrier that
then did not open can undo exactly that, and a later open of the same passage redo it.
Older rows have none: their admission is not undone.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('admission', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.drop_column('admission')
