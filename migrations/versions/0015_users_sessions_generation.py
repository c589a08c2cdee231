"""users sessions generation

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 09:00:00.000000

Deactivating a staff account ended its sessions and tokens, but reactivating it made those
issued before the deactivation valid again until they expired (12 hours): a token stolen from
a guard who left worked again once the account was given back. Each deactivation and
reactivation now moves the account's sessions generation, which every token carries in its
password stamp (services/passwords.py). Every account starts at 0, whose stamp is the one
tokens carried before, so nobody is logged out by the upgrade.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sessions_generation", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    # The older schema cannot tell a token from before a deactivation: reactivating an
    # account there brings them back, as it did.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("sessions_generation")
