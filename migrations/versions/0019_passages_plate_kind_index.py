"""passages plate kind index

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 00:50:00.000000

The passage history filters by plate kind (an office asking for the trailers of a week). On
SQLite, EXPLAIN QUERY PLAN of that search was ``SCAN passages`` for its count and a walk of
ix_passages_at for its page, filtering every passage: at ~13,000 passages a day, a year is
millions of rows for a kind that is a handful of them. (plate_kind, at) counts a kind off the
index and pages it newest first.

Plain CREATE INDEX, not CONCURRENTLY: migrations run at start, before the gates are served.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_passages_plate_kind_at", "passages", ["plate_kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_passages_plate_kind_at", table_name="passages")
