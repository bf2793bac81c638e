"""The fleet service: providers, accounts, browser sessions and device tokens, login failures
(the rate limit), and the append-only audit log.

Providers get a table of their own; customers keep naming theirs in customers.provider
(0004) and that name is the link, so nothing existing changes (docs/service.md says why).
The providers the customers already name are entered here. The audit log refuses UPDATE and
DELETE by triggers, on SQLite and PostgreSQL alike: append-only is the database's rule, not
only the code's.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_APPEND_ONLY = "the audit log is append-only"


def upgrade() -> None:
    # Sizes and names written out: this is the schema as it was at 0006.
    op.create_table(
        "providers",
        sa.Column("provider_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("provider_id", name="pk_providers"),
        sa.UniqueConstraint("name", name="uq_providers_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("person_key", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("password_changed_at", sa.BigInteger(), nullable=False),
        sa.Column("disabled_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("role IN ('lock-admin', 'coordinator', 'carer', 'technician')",
                           name=op.f("ck_accounts_role")),
        sa.CheckConstraint("(role IN ('coordinator', 'carer')) = (provider_id IS NOT NULL)",
                           name=op.f("ck_accounts_provider")),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.provider_id"],
                                name="fk_accounts_provider_id_providers"),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
        sa.UniqueConstraint("login", name="uq_accounts_login"),
        sa.UniqueConstraint("person_key", name="uq_accounts_person_key"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "auth_tokens",
        sa.Column("token_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("device_name", sa.String(100), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("last_used_at", sa.BigInteger(), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('browser', 'device')", name=op.f("ck_auth_tokens_kind")),
        sa.CheckConstraint("(kind = 'device') = (device_name IS NOT NULL)",
                           name=op.f("ck_auth_tokens_device_name")),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"],
                                name="fk_auth_tokens_account_id_accounts"),
        sa.PrimaryKeyConstraint("token_id", name="pk_auth_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_auth_tokens_token_sha256"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_auth_tokens_account_id", "auth_tokens", ["account_id"])
    op.create_table(
        "login_failures",
        sa.Column("failure_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("failure_id", name="pk_login_failures"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_login_failures_subject_at", "login_failures", ["subject", "at"])
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("device", sa.String(100), nullable=True),
        sa.Column("address", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(300), nullable=True),
        sa.Column("provider", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.account_id"],
                                name="fk_audit_log_account_id_accounts"),
        sa.PrimaryKeyConstraint("audit_id", name="pk_audit_log"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    _append_only_triggers()
    # The providers the customers already name, so their coordinators can be given accounts.
    now = int(time.time())
    names = op.get_bind().execute(sa.text(
        "SELECT DISTINCT provider FROM customers WHERE provider IS NOT NULL")).scalars().all()
    providers = sa.table("providers", sa.column("name"), sa.column("created_at"))
    if names:
        op.bulk_insert(providers, [{"name": name, "created_at": now} for name in sorted(names)])


def _append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION '{_APPEND_ONLY}'; END; $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""")
        return
    for what in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log
            BEGIN SELECT RAISE(ABORT, '{_APPEND_ONLY}'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_login_failures_subject_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_auth_tokens_account_id", table_name="auth_tokens")
    op.drop_table("auth_tokens")
    op.drop_table("accounts")
    op.drop_table("providers")
