"""visitor passes walk in

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 10:00:00.000000

A visitor on foot (a relative, a delivery person, a tutor) gets a walk-in pass (步行访客): a
pass without a plate, which admits only by its QR code at a pedestrian gate. The plate
becomes nullable; every pass made before keeps its plate.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("visitor_passes", schema=None) as batch_op:
        batch_op.alter_column("plate", existing_type=sa.String(length=16), nullable=True)


def downgrade() -> None:
    # A walk-in pass has no plate to keep: it cannot exist in the older schema.
    op.execute("DELETE FROM visitor_passes WHERE plate IS NULL")
    with op.batch_alter_table("visitor_passes", schema=None) as batch_op:
        batch_op.alter_column("plate", existing_type=sa.String(length=16), nullable=False)
