"""The fleet store on PostgreSQL, a municipality-wide installation's backend: the same
migrations give the schema the models describe, go down and up again, and the store's work
(the year of activity in test_year_of_activity.py, the sync in test_visits.py) runs on it.
Skipped, saying why, where no PostgreSQL server can be had (conftest.postgres_server)."""

from __future__ import annotations

import secrets

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from hemlas.firmware import wire
from hemlas.fleet.models import Base
from hemlas.fleet.store import MIGRATIONS_DIR, FleetStore


def test_migrations_give_the_models_schema_and_go_down_and_up_again(postgres_url):
    with FleetStore(postgres_url) as store:
        store.add_lock("HL-1", "esp32c3", "1.0", secrets.token_bytes(32))
        store.issue_key("HL-1", "Anna", wire.ROLE_STAFF, 100, 2**32 - 1)  # uint32 times fit (BIGINT)
    engine = create_engine(postgres_url)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    with FleetStore(postgres_url) as store:  # and up again, on open
        assert store.locks() == []
