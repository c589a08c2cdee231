"""guidance holds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 07:00:00.000000

Parking guidance holds, kept so that a restart does not forget which car was sent to which
space (they last minutes; expired rows are ignored on start and dropped at the next write).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('guidance_holds',
    sa.Column('space_id', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=64), nullable=False),
    sa.Column('held_until', models.base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('space_id', name=op.f('pk_guidance_holds')),
    sa.UniqueConstraint('holder', name=op.f('uq_guidance_holds_holder'))
    )


def downgrade() -> None:
    op.drop_table('guidance_holds')
