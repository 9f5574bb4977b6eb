"""Telling serving processes that the registry changed: PostgreSQL LISTEN/NOTIFY.

Every change (`Deployments._change`) also sends a notification on `CHANNEL`, which
PostgreSQL delivers when its transaction commits. Each serving process listens on a
connection of its own and refreshes when one arrives, so a change reaches every node in
about a round trip, where polling would cost every node a query per interval. SQLite has no
such thing: there, and while the listening connection is down, processes poll.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("forwardpass.registry")

CHANNEL = "forwardpass_changes"
#: How long one wait for notifications lasts: the listener sees `stop` within it.
_WAIT_SECONDS = 1.0


def announce(connection: Connection) -> None:
    """Notify every listener when `connection`'s transaction commits (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def can_listen(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class ChangeListener:
    """Calls `on_change` for each notification, and once each time it (re)connects, since
    changes made while it was not listening were not announced to it."""

    def __init__(
        self, engine: Engine, on_change: Callable[[], object], connect_timeout: float
    ) -> None:
        self.engine = engine
        self.on_change = on_change
        self.connect_timeout = connect_timeout
        self.connected = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forwardpass-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        import psycopg

        args, params = self.engine.dialect.create_connect_args(self.engine.url)
        params["connect_timeout"] = math.ceil(self.connect_timeout)
        while not self._stop.is_set():
            try:
                with psycopg.connect(*args, **params, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.connected = True
                    self.on_change()
                    while not self._stop.is_set():
                        for _notice in connection.notifies(timeout=_WAIT_SECONDS, stop_after=1):
                            self.on_change()
            except psycopg.Error as exc:
                if self.connected:
                    log.warning("lost the registry's change notifications, polling: %s", exc)
                self.connected = False
                self._stop.wait(self.connect_timeout)
        self.connected = False
