"""audit log target action index

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 13:50:00.000000

Every face enrolment and consent asks the audit log whether the resident's face data was
erased or their consent withdrawn since (services/faces.py): ``action IN (...) AND target =
'resident:N'``. With no index on either column that read the whole log: ~30 ms at 500,000
entries on SQLite, twice per resident: an ``enrol-faces`` run over a folder of 3,000
residents spent about three minutes on it. (target, action) answers it from the index alone.

Plain CREATE INDEX, not CONCURRENTLY: migrations run at start, before the gates are served.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_log_target_action", "audit_log", ["target", "action"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_target_action", table_name="audit_log")
