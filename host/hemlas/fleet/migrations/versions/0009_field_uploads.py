"""The field clients' uploads: the idempotency ids the service has applied (fleet/uploads.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sizes and names written out: this is the schema as it was at 0009.
    op.create_table(
        "applied_uploads",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("body_sha256", sa.String(64), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("applied_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('log-page', 'battery-reading', 'swap')",
                           name=op.f("ck_applied_uploads_kind")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"],
                                name="fk_applied_uploads_account_id_accounts"),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"],
                                name="fk_applied_uploads_lock_id_locks"),
        sa.PrimaryKeyConstraint("account_id", "upload_id", name="pk_applied_uploads"),
    )
    op.create_index("ix_applied_uploads_lock_id", "applied_uploads", ["lock_id"])


def downgrade() -> None:
    op.drop_index("ix_applied_uploads_lock_id", table_name="applied_uploads")
    op.drop_table("applied_uploads")
