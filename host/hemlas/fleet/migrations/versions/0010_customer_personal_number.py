"""Customers' personnummer (issue 16: Kund finds a customer by name, customer number or
personnummer): 12 digits, optional, unique.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # In place on SQLite too (ADD COLUMN, CREATE INDEX): a batch copy of customers would drop
    # the table, which the foreign keys of its placements, tags and visits refuse.
    op.add_column("customers", sa.Column("personal_number", sa.String(12), nullable=True))
    op.create_index("uq_customers_personal_number", "customers", ["personal_number"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_customers_personal_number", table_name="customers")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("personal_number")
