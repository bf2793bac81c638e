"""An index on customers.provider (issue 15, "Load"): every provider-scoped read -- a
coordinator's warnings, customers and locks -- starts from its provider's customers; without
it each such request scanned all of the municipality's customers (benchmarks/bench_service.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_customers_provider", "customers", ["provider"])


def downgrade() -> None:
    op.drop_index("ix_customers_provider", table_name="customers")
