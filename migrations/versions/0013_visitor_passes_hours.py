"""visitor passes hours

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 09:00:00.000000

A recurring visitor pass (a cleaner 周一至周五 08:00–12:00 for three months) carries, within
its window, the weekdays it admits on ("mon,tue,wed,thu,fri") and its daily hours in the
community's local time ("08:00", "12:00"; an end at midnight is "24:00"). All three are
NULL for every pass made before: any day, any time of its window, as before.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visitor_passes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("weekdays", sa.String(length=27), nullable=True))
        batch_op.add_column(sa.Column("hours_from", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("hours_to", sa.String(length=5), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("visitor_passes", schema=None) as batch_op:
        batch_op.drop_column("hours_to")
        batch_op.drop_column("hours_from")
        batch_op.drop_column("weekdays")
