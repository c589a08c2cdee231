"""indexes for a year of history

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 23:00:00.000000

Measured with ``python -m bench.scale`` (a 2,000-household community, ~13,000 passages a day):

- the review queue (decision 'review', not resolved, oldest first) read and sorted every
  review of the history on each booth-page poll: (decision, resolution, at) gives it the
  waiting cars in order, and replaces the index on decision alone, whose work it also does;
- the reports' zone counts read every sample of a zone to find one moment or one day:
  (zone_id, at) replaces the index on zone_id alone;
- the booth page's look-up of the resolutions of the passages it shows read the whole audit
  log on SQLite: an index on audit_log.passage_id.

Plain CREATE INDEX, not CONCURRENTLY: migrations run at start, before the gates are served.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Each new index is built before the one it replaces is dropped: a query running
    # meanwhile on PostgreSQL never loses its index.
    op.create_index(
        'ix_passages_decision_resolution_at', 'passages', ['decision', 'resolution', 'at']
    )
    op.drop_index('ix_passages_decision', table_name='passages')
    op.create_index(
        'ix_occupancy_samples_zone_at', 'occupancy_samples', ['zone_id', 'at']
    )
    op.drop_index('ix_occupancy_samples_zone_id', table_name='occupancy_samples')
    op.create_index('ix_audit_log_passage_id', 'audit_log', ['passage_id'])


def downgrade() -> None:
    op.drop_index('ix_audit_log_passage_id', table_name='audit_log')
    op.create_index('ix_occupancy_samples_zone_id', 'occupancy_samples', ['zone_id'])
    op.drop_index('ix_occupancy_samples_zone_at', table_name='occupancy_samples')
    op.create_index('ix_passages_decision', 'passages', ['decision'])
    op.drop_index('ix_passages_decision_resolution_at', table_name='passages')
