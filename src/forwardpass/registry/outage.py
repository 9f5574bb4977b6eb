"""The registry boundary: a database that is down, frozen or locked becomes a clean 503.

Callers of the registry (the management API, the pages, the CLI) run inside `translated`,
so that they see `RegistryUnavailable` with a `Retry-After` in place of SQLAlchemy's
errors; bad input never reaches the database as such (names and IDs are checked first).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc

from forwardpass.errors import RegistryUnavailable

log = logging.getLogger("forwardpass.registry")

#: Seconds a client is asked to wait before it tries again.
RETRY_AFTER = 5


@contextmanager
def translated() -> Iterator[None]:
    """Turn an unreachable or unanswering registry database into `RegistryUnavailable`."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
        # OperationalError: refused, timed out, cancelled by statement_timeout, SQLite locked.
        # InterfaceError: the connection broke. TimeoutError: no pooled connection came free.
        log.warning("registry database unavailable: %s", str(error).splitlines()[0])
        raise RegistryUnavailable(
            "the registry database is unavailable or not answering; try again shortly",
            headers={"Retry-After": str(RETRY_AFTER)},
        ) from None
