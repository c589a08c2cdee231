"""passages resident snapshots index

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 17:00:00.000000

A resident may ask for the pedestrian gate's photos of them to be deleted with their face
data (services/gate_snapshot_erasure.py), and the faces page counts them per resident. Those
are the resident's passages with no car and a snapshot; without an index the count read every
passage of the history on each page. Partial, so the cars' passages (most of the table) are
not in it.

Plain CREATE INDEX, not CONCURRENTLY: migrations run at start, before the gates are served.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = "vehicle_id IS NULL AND snapshot_path IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_passages_resident_snapshots", "passages", ["resident_id"],
        sqlite_where=sa.text(_WHERE), postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_passages_resident_snapshots", table_name="passages")
