"""Usage per deployment: counted in memory on the prediction path, written out periodically.

Counting costs a few dict operations per request and no database access. Each serving
process adds its counts to the registry every `usage_flush_seconds` (and when it stops), in
one transaction that does not bump the registry's change counter. A crash loses at most the
counts of the last interval; a failed write keeps them for the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from forwardpass.registry.usage import ERROR, REQUESTS, ROWS, UNCHECKED

if TYPE_CHECKING:
    from forwardpass.registry import Registry

log = logging.getLogger("forwardpass.serving.usage")

Counts = dict[str, dict[str, int]]  # deployment id -> metric -> count


class Usage:
    def __init__(self, registry: Registry, known: Callable[[str], object]) -> None:
        self._registry = registry
        self._known = known  # counts only for deployments that exist: unknown ids cost nothing
        self._counts: Counts = {}

    def record(self, deployment_id: str, rows: int, error_code: str | None) -> None:
        """Count one request: its rows if it succeeded, else its errorCode."""
        counts = self._counts.get(deployment_id)
        if counts is None:
            if not self._known(deployment_id):
                return
            counts = self._counts[deployment_id] = {}
        counts[REQUESTS] = counts.get(REQUESTS, 0) + 1
        if error_code is None:
            counts[ROWS] = counts.get(ROWS, 0) + rows
        else:
            key = ERROR + error_code
            counts[key] = counts.get(key, 0) + 1

    def unchecked(self, deployment_id: str) -> None:
        """Count a request whose rate limit could not be checked (Redis unreachable)."""
        counts = self._counts.setdefault(deployment_id, {})
        counts[UNCHECKED] = counts.get(UNCHECKED, 0) + 1

    async def flush(self) -> None:
        """Add the counts so far to the registry; kept for the next try if that fails."""
        pending, self._counts = self._counts, {}
        if not pending:
            return
        try:
            await asyncio.to_thread(self._registry.add_usage, pending)
        except Exception as exc:
            log.warning("could not write usage counts, keeping them for the next try: %s", exc)
            for deployment_id, counts in pending.items():
                mine = self._counts.setdefault(deployment_id, {})
                for metric, value in counts.items():
                    mine[metric] = mine.get(metric, 0) + value

    async def keep_flushing(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.flush()
