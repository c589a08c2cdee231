"""alarms acknowledged note

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 08:00:00.000000

A guard may say what they found when acknowledging an alarm ("车主忘带卡，已核实"); it is kept
with the acknowledgement. Alarms acknowledged before have none (NULL); the notes given through
the API before this lived in their alarm.ack audit entries only, and stay there.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_note', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alarms', schema=None) as batch_op:
        batch_op.drop_column('acknowledged_note')
