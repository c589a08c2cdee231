"""passages to anonymise index

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 11:00:00.000000

The hourly retention job asks for the oldest passages not anonymised yet; a partial index on
``at`` over those rows answers without walking the history anonymised already.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING = sa.text('anonymised_at IS NULL')


def upgrade() -> None:
    op.create_index(
        'ix_passages_to_anonymise', 'passages', ['at'],
        sqlite_where=_PENDING, postgresql_where=_PENDING,
    )


def downgrade() -> None:
    op.drop_index('ix_passages_to_anonymise', table_name='passages')
