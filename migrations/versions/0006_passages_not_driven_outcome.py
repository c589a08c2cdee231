"""passages never driven read closed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 09:00:00.000000

A passage whose decision did not open (deny, review not allowed by a guard) is now written
with barrier_outcome 'closed' instead of staying 'pending' for good, so that 'pending' picks
out exactly the passages a crash interrupted between their commit and the barrier's answer.
Rows written before are brought in line here. Data only: the schema does not change.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE passages SET barrier_outcome = 'closed' "
        "WHERE barrier_outcome = 'pending' AND decision <> 'allow' "
        "AND (resolution IS NULL OR resolution = 'denied')"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE passages SET barrier_outcome = 'pending' "
        "WHERE barrier_outcome = 'closed' AND decision <> 'allow' "
        "AND (resolution IS NULL OR resolution = 'denied')"
    )
