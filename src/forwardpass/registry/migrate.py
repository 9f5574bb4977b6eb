"""Bring a registry database to the newest schema with Alembic.

Processes that start together on one PostgreSQL database take turns: the first migrates
(and creates the first rows) under an advisory lock, the others then find nothing to do.
SQLite's write lock serialises them already.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from forwardpass.errors import RegistryUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
#: The advisory lock's key: any number, the same in every forwardpass process.
_LOCK = 0x666F7277  # "forw"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    found = ScriptDirectory.from_config(_config()).get_current_head()
    assert found is not None
    return found


def current(engine: Engine) -> str | None:
    """The schema revision the database is at (None: an empty database)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def require_current(engine: Engine) -> None:
    """Refuse a database whose schema is not the one this forwardpass needs."""
    found, needed = current(engine), head()
    if found != needed:
        raise RegistryUnavailable(
            f"the registry's schema is at revision {found or '(none)'}, this forwardpass needs "
            f"{needed}: run `forwardpass migrate` (FORWARDPASS_MIGRATE_ON_START is false)"
        )


def upgrade(engine: Engine) -> None:
    config = _config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held to the end of the transaction, so the next process sees the result.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
