"""visitor passes qr nonce

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 02:30:00.000000

A random value per pass, signed into its QR code with the id, so that a cancelled pass's code
does not open the gate for the next pass SQLite gives the same id to. Existing passes get
their own value here; their old (PG1) codes stop working and are issued again as PG2.
"""
from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added nullable, filled row by row (each pass needs a value of its own: a server default
    # would give every existing pass the same one), then made NOT NULL.
    with op.batch_alter_table('visitor_passes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('qr_nonce', sa.String(length=32), nullable=True))

    passes = sa.table('visitor_passes', sa.column('id', sa.Integer()),
                      sa.column('qr_nonce', sa.String(length=32)))
    bind = op.get_bind()
    for (pass_id,) in bind.execute(sa.select(passes.c.id)).all():
        bind.execute(passes.update().where(passes.c.id == pass_id)
                     .values(qr_nonce=secrets.token_hex(16)))

    with op.batch_alter_table('visitor_passes', schema=None) as batch_op:
        batch_op.alter_column('qr_nonce', existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('visitor_passes', schema=None) as batch_op:
        batch_op.drop_column('qr_nonce')
