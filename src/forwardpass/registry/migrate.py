"""Bring a registry database to the newest schema with Alembic.

Processes that start together on one PostgreSQL database take turns: the first migrates
(and creates the first rows) under an advisory lock, the others then find nothing to do.
SQLite's write lock serialises them already.

Every CLI command and server opens the registry, and nearly always finds it current: that
is found with one query and the scripts' file names, and Alembic, whose import was a fifth
of each command's start, is imported only when there is a migration to run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from forwardpass.errors import RegistryUnavailable

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: Alembic's table of the revision a database is at (its default name).
VERSION_TABLE = "alembic_version"
#: The advisory lock's key: any number, the same in every forwardpass process.
_LOCK = 0x666F7277  # "forw"


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision. Each script is `NNNN_what.py` with revision "NNNN", each on the
    one before it (tests/registry/test_revisions.py holds Alembic to this)."""
    scripts = (MIGRATIONS / "versions").glob("[0-9]*_*.py")
    return max(path.name.split("_", 1)[0] for path in scripts)


def current(engine: Engine) -> str | None:
    """The schema revision the database is at (None: an empty database)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return None
        found = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    return None if found is None else str(found)


def require_current(engine: Engine) -> None:
    """Refuse a database whose schema is not the one this forwardpass needs."""
    found, needed = current(engine), head()
    if found != needed:
        raise RegistryUnavailable(
            f"the registry's schema is at revision {found or '(none)'}, this forwardpass needs "
            f"{needed}: run `forwardpass migrate` (FORWARDPASS_MIGRATE_ON_START is false)"
        )


def upgrade(engine: Engine) -> None:
    if current(engine) == head():
        return
    from alembic import command

    config = _config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held to the end of the transaction, so the next process sees the result.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
