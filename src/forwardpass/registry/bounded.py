"""A psycopg connection that waits for the server's answer a bounded time.

PostgreSQL's `statement_timeout` ends slow statements, but a server that is frozen (or a
network that drops packets) never answers at all, and psycopg would wait forever: a pooled
connection's ping alone hung every management request. `wait` is the one place where psycopg
waits on the socket (it takes a timeout since psycopg 3.2, which the cursor does not pass).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import errors


class BoundedConnection(psycopg.Connection[Any]):
    #: Seconds to wait for any answer of the server; None: no bound.
    answer_within: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            return super().wait(gen, interval, self.answer_within if timeout is None else timeout)
        except errors._WaitTimeout:
            # The query is still running or lost: the connection cannot be used again, and a
            # closed one is what SQLAlchemy recognises as a disconnect (it then drops its pool).
            self.pgconn.finish()
            raise errors.ConnectionTimeout(
                f"the database did not answer within {self.answer_within} s"
            ) from None
