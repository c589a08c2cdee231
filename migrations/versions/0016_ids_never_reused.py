"""ids never reused

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 12:00:00.000000

SQLite hands the highest id, once deleted, to the next row: a household that moved out (搬离)
while it was the newest one on file gave its id to the next flat registered, a resident's to
the next resident, and so on. Passages, the audit log and the parking configuration
(``assigned_to: household:12``) keep those ids after the rows are gone, so the history showed
the old family's cars as the new flat's (「8栋 601」 on entries 3栋 1201 made) and the audit
log named the new resident on the old one's deletion and face enrolment. Households,
residents, vehicles and visitor passes become AUTOINCREMENT tables, whose ids are never
handed out twice (PostgreSQL's sequences never did).

The rebuild keeps every row and id (foreign keys are off during an upgrade: models/db.py). An
id that was deleted before the upgrade is known only where it is still named: the passages and
the audit log's targets; the counter starts above the highest of those, so such an id is not
handed out either. That reads the passages once (no index on those columns: a second or so on
a year of a large community's history, once).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table → (the passages' column naming its ids, the audit log's target prefix).
NAMED_BY = {
    "households": ("household_id", "household:"),
    "residents": ("resident_id", "resident:"),
    "vehicles": ("vehicle_id", "vehicle:"),
    "visitor_passes": ("pass_id", "pass:"),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table, (column, prefix) in NAMED_BY.items():
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
        highest = bind.execute(
            sa.text(
                f"SELECT max(coalesce((SELECT max(id) FROM {table}), 0),"  # names from NAMED_BY
                f" coalesce((SELECT max({column}) FROM passages), 0),"
                " coalesce((SELECT max(CAST(substr(target, :start) AS INTEGER)) FROM audit_log"
                " WHERE target LIKE :like), 0))"
            ),
            {"start": len(prefix) + 1, "like": f"{prefix}%"},
        ).scalar_one()
        # The copy's inserts left the table's highest id here (no row for an empty table).
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :name"), {"name": table})
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :seq)"),
            {"name": table, "seq": int(highest or 0)},
        )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in NAMED_BY:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ):
            pass
