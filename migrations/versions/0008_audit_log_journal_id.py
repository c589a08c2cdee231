"""audit log journal id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000

A guard's gate action taken while the database was down is audited in the local audit journal
and written here once it answers; its journal id, unique, makes that write happen once.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('journal_id', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_log_journal_id'), ['journal_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_journal_id'))
        batch_op.drop_column('journal_id')
