"""Usage per deployment: counted in memory on the prediction path, written out periodically.

Each request is counted twice: in the totals, and in the tally of its minute (requests,
rows, errors, latency) that the registry keeps as usage over time.

Counting costs a few dict operations per request and no database access. Each serving
process adds its counts to the registry every `usage_flush_seconds` (and when it stops), in
one transaction that does not bump the registry's change counter. A crash loses at most the
counts of the last interval; a failed write keeps them for the next one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from forwardpass.registry.usage import ERROR, MINUTE, REQUESTS, ROWS, UNCHECKED, Buckets, Tally

if TYPE_CHECKING:
    from forwardpass.registry import Registry

log = logging.getLogger("forwardpass.serving.usage")

Counts = dict[str, dict[str, int]]  # deployment id -> metric -> count


class Usage:
    def __init__(self, registry: Registry, known: Callable[[str], object]) -> None:
        self._registry = registry
        self._known = known  # counts only for deployments that exist: unknown ids cost nothing
        self._counts: Counts = {}
        self._minutes: Buckets = {}

    def record(
        self,
        deployment_id: str,
        rows: int,
        error_code: str | None,
        seconds: float = 0.0,
        at: float | None = None,
    ) -> None:
        """Count one request: its rows if it succeeded, else its errorCode; and in the
        minute it ended in (`at`, Unix time; now if not given), its latency `seconds`."""
        counts = self._counts.get(deployment_id)
        if counts is None:
            if not self._known(deployment_id):
                return
            counts = self._counts[deployment_id] = {}
        counts[REQUESTS] = counts.get(REQUESTS, 0) + 1
        when = int(time.time() if at is None else at)
        key = (deployment_id, when - when % MINUTE)
        tally = self._minutes.get(key)
        if tally is None:
            tally = self._minutes[key] = Tally()
        tally.requests += 1
        tally.seconds += seconds
        if error_code is None:
            counts[ROWS] = counts.get(ROWS, 0) + rows
            tally.rows += rows
        else:
            metric = ERROR + error_code
            counts[metric] = counts.get(metric, 0) + 1
            tally.errors += 1

    def unchecked(self, deployment_id: str) -> None:
        """Count a request whose rate limit could not be checked (Redis unreachable)."""
        counts = self._counts.setdefault(deployment_id, {})
        counts[UNCHECKED] = counts.get(UNCHECKED, 0) + 1

    async def flush(self) -> None:
        """Add the counts so far to the registry; kept for the next try if that fails."""
        pending, self._counts = self._counts, {}
        minutes, self._minutes = self._minutes, {}
        if not pending and not minutes:
            return
        try:
            await asyncio.to_thread(self._registry.add_usage, pending, minutes)
        except Exception as exc:
            log.warning("could not write usage counts, keeping them for the next try: %s", exc)
            for deployment_id, counts in pending.items():
                mine = self._counts.setdefault(deployment_id, {})
                for metric, value in counts.items():
                    mine[metric] = mine.get(metric, 0) + value
            for key, tally in minutes.items():
                self._minutes.setdefault(key, Tally()).add(tally)

    async def keep_flushing(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            await self.flush()
