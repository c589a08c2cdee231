"""zones retired

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 15:00:00.000000

A zone taken out of the configuration (merged into another, its id renamed) stayed in the
database as if configured: the availability API, the city feed and the reports kept listing
it, with whatever count it had left, every day after. ``zones.retired_at`` marks a zone the
configuration no longer names, and ``zone_periods`` keeps the spans it was named in, so a
report lists a zone only on the days it was configured (services/site.py writes both at each
start).

Nothing is backfilled: a zone without spans is listed every day, as before, until the next
start gives every configured zone an open span from before its history, and retires those
no longer configured (services/site.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("retired_at", models.base.UtcDateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "zone_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("zone_id", sa.String(length=32), nullable=False),
        sa.Column("since", models.base.UtcDateTime(timezone=True), nullable=True),
        sa.Column("until", models.base.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["zone_id"], ["zones.id"], name=op.f("fk_zone_periods_zone_id_zones"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_zone_periods")),
    )
    with op.batch_alter_table("zone_periods", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_zone_periods_zone_id"), ["zone_id"], unique=False)


def downgrade() -> None:
    # The older schema lists every zone ever configured, as it did.
    with op.batch_alter_table("zone_periods", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_zone_periods_zone_id"))
    op.drop_table("zone_periods")
    with op.batch_alter_table("zones", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
