"""What each prediction leaves behind, written out in bulk.

A prediction is counted in three places: its deployment's usage (limits.Guard), the
Prometheus series (server/metrics.py) and the request log (server/logs.py). Done one by
one on the event loop, the three took about a tenth of a 1-row request's time on one core
(13 % more requests/s without them, side by side). The forward route appends one tuple a
request here instead; `flush` hands the batch to each of the three every FLUSH_SECONDS
(as long as a log line may wait in the log's buffer anyway), as soon as FLUSH_ENTRIES
are waiting, before each `/metrics` answer and when the server stops.

FLUSH_ENTRIES keeps each flush short: it runs on the event loop, and every request in
flight waits for it. Flushing only on the timer, at 23,000 requests a second, made pauses
of several milliseconds that put the p99 at four times the p50 (bench/PROFILE.md).
"""

from __future__ import annotations

import asyncio
import logging
import time

from forwardpass.errors import clip
from forwardpass.server import logs, metrics
from forwardpass.serving.guard import Guard

FLUSH_SECONDS = 0.2
FLUSH_ENTRIES = 128

log = logging.getLogger("forwardpass.server")
_requests = logs.RequestLog("forwardpass.requests")

# deployment id, HTTP status, rows, errorCode (None for a 200), seconds, time.time(),
# seconds waiting for the model
Entry = tuple[str, int, int, str | None, float, float, float]


class Ledger:
    """Prediction requests not yet counted; used from the event loop only."""

    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._entries: list[Entry] = []
        self._soon = False  # a flush is scheduled on the loop

    def add(
        self,
        deployment_id: str,
        status: int,
        rows: int,
        code: str | None,
        seconds: float,
        queue: float = 0.0,
    ) -> None:
        entries = self._entries
        entries.append((deployment_id, status, rows, code, seconds, time.time(), queue))
        if len(entries) >= FLUSH_ENTRIES and not self._soon:
            # After the current request's answer, not before it.
            self._soon = True
            asyncio.get_running_loop().call_soon(self._flush_soon)

    def _flush_soon(self) -> None:
        self._soon = False
        try:
            self.flush()
        except Exception:  # counting must never stop: the next flush tries again
            log.exception("could not count the latest predictions")

    def flush(self) -> None:
        """Count everything added so far in the usage, the metrics and the log."""
        entries, self._entries = self._entries, []
        if not entries:
            return
        done = self._guard.done
        for deployment_id, _, rows, code, seconds, made, _ in entries:
            done(deployment_id, rows, code, seconds, made)
        metrics.observe_requests(
            # Unknown ids share one label: random ids cannot grow the metrics without bound.
            (metrics.UNKNOWN if status == 404 else deployment_id, status, rows, seconds)
            for deployment_id, status, rows, _, seconds, _, _ in entries
        )
        metrics.observe_queue(
            (deployment_id, queue)
            for deployment_id, status, _, _, _, _, queue in entries
            if status == 200
        )
        _requests.lines(
            [
                (
                    made,
                    f"forward deployment={_shown(deployment_id)} status={status} rows={rows} "
                    f"ms={seconds * 1000:.2f}",
                )
                for deployment_id, status, rows, _, seconds, made, _ in entries
            ]
        )

    async def run(self, seconds: float = FLUSH_SECONDS) -> None:
        """Flush every `seconds` (the server's lifespan runs this)."""
        while True:
            await asyncio.sleep(seconds)
            self._flush_soon()


def _shown(deployment_id: str) -> str:
    """The id as the log shows it: an id from a URL may be anything the client chose, so
    one that is long or holds line breaks or other controls is escaped and cut."""
    if len(deployment_id) <= _ID_CHARS and deployment_id.isprintable():
        return deployment_id
    return clip(ascii(deployment_id), _ID_CHARS)


# Ids are 36 characters: anything longer is not one.
_ID_CHARS = 64
