"""Initial schema: locks and the keys issued for them.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Sizes and names are written out here, not imported from the models: this file records
    # the schema as it was at revision 0001, whatever the models say later.
    op.create_table(
        "locks",
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("board", sa.String(64), nullable=False),
        sa.Column("firmware_version", sa.String(32), nullable=False),
        sa.Column("secret", sa.LargeBinary(32), nullable=False),
        sa.Column("provisioned_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("lock_id", name="pk_locks"),
    )
    op.create_table(
        "issued_keys",
        sa.Column("key_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("lock_id", sa.String(64), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("role", sa.SmallInteger(), nullable=False),
        sa.Column("not_before", sa.BigInteger(), nullable=False),
        sa.Column("not_after", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.Column("revocation_pushed_at", sa.BigInteger(), nullable=True),
        sa.Column("superseded", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint("role BETWEEN 1 AND 3", name="ck_issued_keys_role"),
        sa.CheckConstraint("not_before < not_after", name="ck_issued_keys_window"),
        sa.ForeignKeyConstraint(["lock_id"], ["locks.lock_id"],
                                name="fk_issued_keys_lock_id_locks"),
        sa.PrimaryKeyConstraint("key_id", name="pk_issued_keys"),
        # Key ids are never reused, even after a delete (see models.IssuedKeyRow).
        sqlite_autoincrement=True,
    )
    op.create_index("ix_issued_keys_lock_id", "issued_keys", ["lock_id"])


def downgrade() -> None:
    op.drop_index("ix_issued_keys_lock_id", table_name="issued_keys")
    op.drop_table("issued_keys")
    op.drop_table("locks")
