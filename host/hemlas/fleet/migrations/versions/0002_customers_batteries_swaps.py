"""Customers, lock assignments, battery readings and battery swaps.

Only new tables: no existing table changes, so no batch (copy-the-table) step is needed on
SQLite, and a lock's customer lives in lock_assignments rather than a new column on locks.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Partial unique indexes: SQLite (3.8+) and PostgreSQL both have them; elsewhere the store's
# own checks still hold the rule.
_CURRENT = sa.text("ended_at IS NULL")
_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    # Sizes and names written out, as in 0001: this is the schema as it was at 0002.
    op.create_table(
        "customers",
        sa.Column("customer_number", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("customer_number", name="pk_customers"),
    )
    op.create_table(
        "lock_assignments",
        sa.Column("assignment_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("customer_number", sa.String(32), nullable=False),
        sa.Column("assigned_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"],
                                name="fk_lock_assignments_lock_id_locks"),
        sa.ForeignKeyConstraint(["customer_number"], ["customers.customer_number"],
                                name="fk_lock_assignments_customer_number_customers"),
        sa.PrimaryKeyConstraint("assignment_id", name="pk_lock_assignments"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_lock_assignments_customer_number", "lock_assignments",
                    ["customer_number"])
    op.create_index("uq_lock_assignments_current_lock_id", "lock_assignments", ["lock_id"],
                    unique=True, sqlite_where=_CURRENT, postgresql_where=_CURRENT)
    op.create_table(
        "battery_readings",
        sa.Column("reading_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("idle_mv", sa.Integer(), nullable=False),
        sa.Column("loaded_mv", sa.Integer(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("percent", sa.SmallInteger(), nullable=True),
        sa.Column("days_left", sa.Integer(), nullable=True),
        sa.Column("charge_used_mah", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.CheckConstraint("state BETWEEN 0 AND 2", name="ck_battery_readings_state"),
        sa.CheckConstraint("percent IS NULL OR percent BETWEEN 0 AND 100",
                           name="ck_battery_readings_percent"),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"],
                                name="fk_battery_readings_lock_id_locks"),
        sa.PrimaryKeyConstraint("reading_id", name="pk_battery_readings"),
    )
    op.create_index("ix_battery_readings_lock_id_at", "battery_readings", ["lock_id", "at"])
    op.create_table(
        "battery_swaps",
        sa.Column("swap_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("customer_number", sa.String(32), nullable=True),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=True),
        sa.Column("loaded_mv_at_registration", sa.Integer(), nullable=True),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'passed', 'failed', 'refused', 'abandoned')",
                           name="ck_battery_swaps_status"),
        sa.CheckConstraint("stage IN ('confirmed', 'registered', 'verifying', 'done')",
                           name="ck_battery_swaps_stage"),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"],
                                name="fk_battery_swaps_lock_id_locks"),
        sa.ForeignKeyConstraint(["customer_number"], ["customers.customer_number"],
                                name="fk_battery_swaps_customer_number_customers"),
        sa.PrimaryKeyConstraint("swap_id", name="pk_battery_swaps"),
        sqlite_autoincrement=True,
    )
    op.create_index("uq_battery_swaps_pending_lock_id", "battery_swaps", ["lock_id"],
                    unique=True, sqlite_where=_PENDING, postgresql_where=_PENDING)
    op.create_index("ix_battery_swaps_lock_id_registered_at", "battery_swaps",
                    ["lock_id", "registered_at"])
    op.create_table(
        "swap_cycles",
        sa.Column("swap_id", sa.Integer(), nullable=False),
        sa.Column("cycle_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("result", sa.SmallInteger(), nullable=False),
        sa.Column("state", sa.SmallInteger(), nullable=False),
        sa.Column("travel_ms", sa.Integer(), nullable=False),
        sa.Column("loaded_mv", sa.Integer(), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("action IN ('lock', 'unlock')", name="ck_swap_cycles_action"),
        sa.CheckConstraint("cycle_index >= 0", name="ck_swap_cycles_cycle_index"),
        sa.ForeignKeyConstraint(["swap_id"], ["battery_swaps.swap_id"],
                                name="fk_swap_cycles_swap_id_battery_swaps"),
        sa.PrimaryKeyConstraint("swap_id", "cycle_index", name="pk_swap_cycles"),
    )


def downgrade() -> None:
    op.drop_table("swap_cycles")
    op.drop_index("ix_battery_swaps_lock_id_registered_at", table_name="battery_swaps")
    op.drop_index("uq_battery_swaps_pending_lock_id", table_name="battery_swaps")
    op.drop_table("battery_swaps")
    op.drop_index("ix_battery_readings_lock_id_at", table_name="battery_readings")
    op.drop_table("battery_readings")
    op.drop_index("uq_lock_assignments_current_lock_id", table_name="lock_assignments")
    op.drop_index("ix_lock_assignments_customer_number", table_name="lock_assignments")
    op.drop_table("lock_assignments")
    op.drop_table("customers")
