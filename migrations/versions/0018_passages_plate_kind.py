"""passages plate kind

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 00:30:00.000000

The reader tells a trailer's or a large vehicle's two-row yellow plate (挂车, 双层黄牌) from an
ordinary one, which the text alone cannot (冀A12345 is both), but a passage kept only the
plate's colour: the booth could not show a guard that the car at the gate pulls a trailer,
and an office that refuses trailers overnight could not find them. ``passages.plate_kind``
keeps the read's family beside its colour.

Nothing is backfilled: the frames are gone, so older passages keep NULL (no kind said), as
do passages without a read plate.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("passages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plate_kind", sa.String(length=24), nullable=True))


def downgrade() -> None:
    # The older schema keeps only the colour, as it did.
    with op.batch_alter_table("passages", schema=None) as batch_op:
        batch_op.drop_column("plate_kind")
