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
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"
#: The advisory lock's key: any number, the same in every forwardpass process.
_LOCK = 0x666F7277  # "forw"


def upgrade(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held to the end of the transaction, so the next process sees the result.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
