"""Corrections of manual visits and compensation hours (append-only), and the lock's own
record of a battery swap's registration.

A wrong manual visit or registered hour is never rewritten or deleted: a correction record
says who withdrew or corrected it, when and why, and (for a correction) which new row
replaces it. A battery swap keeps the lock's own swap time as its battery answer gave it
before the registration (``lock_swap_time_before``) and as the registration gave it
(``lock_swap_time``), so a resumed swap asks the lock whether the registration happened
instead of guessing from the time that passed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _correction_table(name: str, target: str, target_table: str) -> None:
    """A correction table for target_table's rows (target: its primary-key column)."""
    op.create_table(
        name,
        sa.Column("correction_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(target, sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("replacement_id", sa.Integer(), nullable=True),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("action IN ('correct', 'withdraw')", name=op.f(f"ck_{name}_action")),
        sa.CheckConstraint("(action = 'correct') = (replacement_id IS NOT NULL)",
                           name=op.f(f"ck_{name}_replacement")),
        sa.ForeignKeyConstraint([target], [f"{target_table}.{target}"],
                                name=f"fk_{name}_{target}_{target_table}"),
        sa.ForeignKeyConstraint(["replacement_id"], [f"{target_table}.{target}"],
                                name=f"fk_{name}_replacement_id_{target_table}"),
        sa.PrimaryKeyConstraint("correction_id", name=f"pk_{name}"),
        # A row is corrected or withdrawn once; a correction's replacement may be corrected in turn.
        sa.UniqueConstraint(target, name=f"uq_{name}_{target}"),
        sqlite_autoincrement=True,
    )


def upgrade() -> None:
    # Sizes and names written out: this is the schema as it was at 0005.
    _correction_table("visit_corrections", "visit_id", "manual_visits")
    _correction_table("hour_corrections", "hour_id", "compensation_hours")
    with op.batch_alter_table("battery_swaps") as batch:
        batch.add_column(sa.Column("lock_swap_time_before", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("lock_swap_time", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("battery_swaps") as batch:
        batch.drop_column("lock_swap_time")
        batch.drop_column("lock_swap_time_before")
    op.drop_table("hour_corrections")
    op.drop_table("visit_corrections")
