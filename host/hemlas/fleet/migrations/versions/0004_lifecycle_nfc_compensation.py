"""NFC tags, the lock lifecycle records, registered compensation hours, customers' provider.

One column added to an existing table (customers.provider, nullable): written in batch mode,
which SQLite runs as a plain ALTER TABLE ADD COLUMN (no table copy) and PostgreSQL as usual.
The rest are new tables. Placements made before this revision get their lifecycle records
from lock_assignments, so every lock's history starts at its first placement.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("deactivated_at IS NULL")
# Who the records made from lock_assignments name: nobody was recorded before 0004.
_BACKFILL_PERSON = "(not recorded before schema 0004)"


def upgrade() -> None:
    # Sizes and names written out: this is the schema as it was at 0004. op.f(): a check
    # constraint's name is final as written (the naming convention would prefix it again).
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("provider", sa.String(200), nullable=True))
    op.create_table(
        "nfc_tags",
        sa.Column("nfc_tag_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_number", sa.String(32), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("deactivated_at", sa.BigInteger(), nullable=True),
        sa.Column("deactivated_by", sa.String(200), nullable=True),
        sa.CheckConstraint("(deactivated_at IS NULL) = (deactivated_by IS NULL)",
                           name=op.f("ck_nfc_tags_deactivated")),
        sa.CheckConstraint("deactivated_at IS NULL OR deactivated_at >= registered_at",
                           name=op.f("ck_nfc_tags_window")),
        sa.ForeignKeyConstraint(["customer_number"], ["customers.customer_number"],
                                name="fk_nfc_tags_customer_number_customers"),
        sa.PrimaryKeyConstraint("nfc_tag_id", name="pk_nfc_tags"),
        sqlite_autoincrement=True,
    )
    op.create_index("uq_nfc_tags_active_customer_number", "nfc_tags", ["customer_number"],
                    unique=True, sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
    op.create_index("uq_nfc_tags_active_tag", "nfc_tags", ["tag"],
                    unique=True, sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
    op.create_table(
        "lock_lifecycle",
        sa.Column("record_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("customer_number", sa.String(32), nullable=False),
        sa.Column("address", sa.String(300), nullable=True),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.String(200), nullable=True),
        sa.Column("note", sa.String(1000), nullable=True),
        sa.Column("recorded_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("action IN ('mount', 'move', 'key_signed_out', 'dismantle', "
                           "'key_returned', 'unassign')",
                           name=op.f("ck_lock_lifecycle_action")),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"],
                                name="fk_lock_lifecycle_lock_id_locks"),
        sa.ForeignKeyConstraint(["assignment_id"], ["lock_assignments.assignment_id"],
                                name="fk_lock_lifecycle_assignment_id_lock_assignments"),
        sa.ForeignKeyConstraint(["customer_number"], ["customers.customer_number"],
                                name="fk_lock_lifecycle_customer_number_customers"),
        sa.PrimaryKeyConstraint("record_id", name="pk_lock_lifecycle"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_lock_lifecycle_lock_id", "lock_lifecycle", ["lock_id"])
    op.create_index("ix_lock_lifecycle_assignment_id", "lock_lifecycle", ["assignment_id"])
    op.create_index("ix_lock_lifecycle_provider_action_at", "lock_lifecycle",
                    ["provider", "action", "at"])
    op.create_table(
        "compensation_hours",
        sa.Column("hour_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("customer_number", sa.String(32), nullable=False),
        sa.Column("lock_id", sa.String(64), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("registered_by", sa.String(200), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_ref", sa.String(300), nullable=True),
        sa.Column("row_key", sa.String(64), nullable=False),
        sa.CheckConstraint("source IN ('cli', 'csv')",
                           name=op.f("ck_compensation_hours_source")),
        sa.PrimaryKeyConstraint("hour_id", name="pk_compensation_hours"),
        sa.UniqueConstraint("row_key", name="uq_compensation_hours_row_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_compensation_hours_provider_day", "compensation_hours",
                    ["provider", "day"])
    _backfill_lifecycle()


def _backfill_lifecycle() -> None:
    """A mount record for every placement made before 0004, and an unassign record for every
    one that ended, in time order (so record ids follow time, as they do from here on)."""
    op.execute(sa.text(
        "INSERT INTO lock_lifecycle (lock_id, assignment_id, action, customer_number, address, "
        "person, at, provider, note, recorded_at) "
        "SELECT lock_id, assignment_id, action, customer_number, address, :person, at, NULL, "
        ":note, :now FROM ("
        " SELECT a.lock_id, a.assignment_id, 'mount' AS action, a.customer_number, c.address,"
        "  a.assigned_at AS at, 0 AS step FROM lock_assignments a"
        "  JOIN customers c ON c.customer_number = a.customer_number"
        " UNION ALL"
        " SELECT a.lock_id, a.assignment_id, 'unassign', a.customer_number, NULL, a.ended_at, 1"
        "  FROM lock_assignments a WHERE a.ended_at IS NOT NULL"
        ") AS placements ORDER BY at, assignment_id, step"
    ).bindparams(person=_BACKFILL_PERSON, note="from lock_assignments (schema 0004)",
                 now=int(time.time())))


def downgrade() -> None:
    op.drop_index("ix_compensation_hours_provider_day", table_name="compensation_hours")
    op.drop_table("compensation_hours")
    op.drop_index("ix_lock_lifecycle_provider_action_at", table_name="lock_lifecycle")
    op.drop_index("ix_lock_lifecycle_assignment_id", table_name="lock_lifecycle")
    op.drop_index("ix_lock_lifecycle_lock_id", table_name="lock_lifecycle")
    op.drop_table("lock_lifecycle")
    op.drop_index("uq_nfc_tags_active_tag", table_name="nfc_tags")
    op.drop_index("uq_nfc_tags_active_customer_number", table_name="nfc_tags")
    op.drop_table("nfc_tags")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("provider")
