"""passages anonymised at

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:00:00.000000

Passages older than retention.passage_days lose their plate and whose passage it was (PIPL);
this is when that was done, and what the retention job looks for.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('anonymised_at', models.base.UtcDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.drop_column('anonymised_at')
