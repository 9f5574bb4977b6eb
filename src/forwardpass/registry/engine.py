"""The SQLAlchemy engine of a registry URL: SQLite in the data directory, or PostgreSQL.

Every wait on the database is bounded, so that a registry that is down or frozen gives an
error (turned into 503 by `outage.translated`) instead of a request or command that hangs.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError


def create_engine(
    url: str, *, connect_timeout: float = 5.0, statement_timeout: float = 10.0
) -> Engine:
    """The engine of `url`; waits for a connection at most `connect_timeout` seconds and for
    a statement at most `statement_timeout` (SQLite: for a lock)."""
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": statement_timeout})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets a serving process read while the CLI writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(statement_timeout * 1000)}")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = {}
    if url.startswith("postgresql"):
        # The server ends a statement after statement_timeout; options in the URL are kept.
        given = sa.engine.make_url(url).query.get("options", "")
        limit = f"-c statement_timeout={int(statement_timeout * 1000)}"
        connect_args = {
            "connect_timeout": math.ceil(connect_timeout),
            "options": f"{given} {limit}".strip() if isinstance(given, str) else limit,
        }
    engine = sa.create_engine(
        url, pool_pre_ping=True, pool_timeout=connect_timeout, connect_args=connect_args
    )
    if engine.dialect.driver == "psycopg":
        # A frozen server cannot enforce its own statement_timeout: the client gives up a
        # second after it (the second for the network and the cancel's own answer).
        answer_within = statement_timeout + 1

        @sa.event.listens_for(engine, "do_connect")
        def _bounded(_dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
            from forwardpass.registry.bounded import BoundedConnection

            connection = BoundedConnection.connect(*cargs, **cparams)
            connection.answer_within = answer_within
            return connection

    return engine


def shown_url(url: str) -> str:
    """A database URL fit to print: its password masked (or all of it, if it does not parse)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(the database URL, which does not parse)"
