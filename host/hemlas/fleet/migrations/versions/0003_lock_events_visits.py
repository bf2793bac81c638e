"""The locks' event logs as synced to the host, the sync cursors, and manual visits.

Only new tables, as in 0002.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sizes and names written out: this is the schema as it was at 0003.
    op.create_table(
        "lock_events",
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("log_epoch", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.SmallInteger(), nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("synced_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"], name="fk_lock_events_lock_id_locks"),
        sa.PrimaryKeyConstraint("lock_id", "log_epoch", "seq", name="pk_lock_events"),
    )
    op.create_index("ix_lock_events_lock_id_at", "lock_events", ["lock_id", "at"])
    op.create_table(
        "lock_sync",
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("log_epoch", sa.Integer(), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("lock_next_seq", sa.BigInteger(), nullable=False),
        sa.Column("lost_events", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"], name="fk_lock_sync_lock_id_locks"),
        sa.PrimaryKeyConstraint("lock_id", name="pk_lock_sync"),
    )
    op.create_table(
        "manual_visits",
        sa.Column("visit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_number", sa.String(32), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("out_at", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.String(1000), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("out_at IS NULL OR out_at >= at", name=op.f("ck_manual_visits_window")),
        sa.ForeignKeyConstraint(["customer_number"], ["customers.customer_number"],
                                name="fk_manual_visits_customer_number_customers"),
        sa.PrimaryKeyConstraint("visit_id", name="pk_manual_visits"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_manual_visits_customer_number_at", "manual_visits", ["customer_number", "at"])


def downgrade() -> None:
    op.drop_index("ix_manual_visits_customer_number_at", table_name="manual_visits")
    op.drop_table("manual_visits")
    op.drop_table("lock_sync")
    op.drop_index("ix_lock_events_lock_id_at", table_name="lock_events")
    op.drop_table("lock_events")
