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
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("personal_number", sa.String(12), nullable=True))
        batch.create_unique_constraint("uq_customers_personal_number", ["personal_number"])


def downgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.drop_constraint("uq_customers_personal_number", type_="unique")
        batch.drop_column("personal_number")
