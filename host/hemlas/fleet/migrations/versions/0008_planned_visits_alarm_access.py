"""Planned visits and the keys issued for them; alarm access (trygghetslarm).

planned_visits holds each provider's planned visits (imported from its planning system) and
the carers' alarm accesses (kind "alarm", with a reason); visit_keys links each issued key to
its visit and door, flags an alarm access's key, and says why the plan ended a key (docs/
planning.md). Nothing existing changes: keys stay in issued_keys as every key does.

Revision ID: 0008
Revises: 0006 (the lead re-chains it at merge)
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sizes and names written out: this is the schema as it was at 0008.
    op.create_table(
        "planned_visits",
        sa.Column("visit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(200), nullable=False),
        sa.Column("row_key", sa.String(64), nullable=True),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("customer_number", sa.String(32), nullable=False),
        sa.Column("carer_account_id", sa.Integer(), nullable=False),
        sa.Column("planned_start", sa.BigInteger(), nullable=False),
        sa.Column("planned_end", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("source", sa.String(300), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("changed_at", sa.BigInteger(), nullable=True),
        sa.Column("changed_by", sa.String(200), nullable=True),
        sa.CheckConstraint("kind IN ('planned', 'alarm')", name=op.f("ck_planned_visits_kind")),
        sa.CheckConstraint("status IN ('active', 'cancelled')",
                           name=op.f("ck_planned_visits_status")),
        sa.CheckConstraint("planned_start < planned_end", name=op.f("ck_planned_visits_window")),
        sa.CheckConstraint("(kind = 'alarm') = (reason IS NOT NULL)",
                           name=op.f("ck_planned_visits_reason")),
        sa.ForeignKeyConstraint(["customer_number"], ["customers.customer_number"],
                                name="fk_planned_visits_customer_number_customers"),
        sa.ForeignKeyConstraint(["carer_account_id"], ["accounts.account_id"],
                                name="fk_planned_visits_carer_account_id_accounts"),
        sa.PrimaryKeyConstraint("visit_id", name="pk_planned_visits"),
        sa.UniqueConstraint("row_key", name="uq_planned_visits_row_key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_planned_visits_carer_account_id_planned_end", "planned_visits",
                    ["carer_account_id", "planned_end"])
    op.create_index("ix_planned_visits_provider_planned_start", "planned_visits",
                    ["provider", "planned_start"])
    op.create_table(
        "visit_keys",
        sa.Column("key_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("alarm", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("ended_why", sa.String(16), nullable=True),
        sa.CheckConstraint("(ended_at IS NULL) = (ended_why IS NULL)",
                           name=op.f("ck_visit_keys_ended")),
        sa.CheckConstraint("ended_why IS NULL OR ended_why IN ('moved', 'cancelled', "
                           "'lock-gone', 'customer-left', 'superseded', 'reissued')",
                           name=op.f("ck_visit_keys_ended_why")),
        sa.ForeignKeyConstraint(["key_id"], ["issued_keys.key_id"],
                                name="fk_visit_keys_key_id_issued_keys"),
        sa.ForeignKeyConstraint(["visit_id"], ["planned_visits.visit_id"],
                                name="fk_visit_keys_visit_id_planned_visits"),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"],
                                name="fk_visit_keys_lock_id_locks"),
        sa.PrimaryKeyConstraint("key_id", name="pk_visit_keys"),
    )
    op.create_index("ix_visit_keys_visit_id", "visit_keys", ["visit_id"])
    op.create_index("uq_visit_keys_live_visit_id", "visit_keys", ["visit_id", "lock_id"],
                    unique=True, sqlite_where=sa.text("ended_at IS NULL"),
                    postgresql_where=sa.text("ended_at IS NULL"))


def downgrade() -> None:
    op.drop_index("uq_visit_keys_live_visit_id", table_name="visit_keys")
    op.drop_index("ix_visit_keys_visit_id", table_name="visit_keys")
    op.drop_table("visit_keys")
    op.drop_index("ix_planned_visits_provider_planned_start", table_name="planned_visits")
    op.drop_index("ix_planned_visits_carer_account_id_planned_end", table_name="planned_visits")
    op.drop_table("planned_visits")
