"""The batcher: requests to one model that arrive while it is busy run as one batch.

When the model is idle a request runs at once. While a batch runs, arriving requests
queue; when it ends, everything queued (up to `max_rows`) runs as the next single ONNX
Runtime call and its outputs are split back. No fixed delay to tune: the batch size follows
the load. If a merged batch fails, each request is run alone, so that one request's bad data
fails only that request. The queue is bounded in rows: when it is full a request is refused
at once with `Overloaded` instead of waiting ever longer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from forwardpass.errors import Overloaded

Feeds = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]


@dataclass
class _Job:
    feeds: Feeds
    rows: int
    future: asyncio.Future[Outputs]
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(
        self,
        run: Callable[[Feeds], Outputs],
        executor: Executor,
        *,
        max_rows: int = 1024,
        max_queue_rows: int = 16_384,
    ) -> None:
        self._run = run
        self._executor = executor
        self._max_rows = max_rows
        self._max_queue_rows = max_queue_rows
        self._queue: deque[_Job] = deque()
        self._queued_rows = 0
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for the model."""
        return len(self._queue)

    async def submit(self, feeds: Feeds, rows: int) -> Outputs:
        """Run `feeds` (`rows` examples) as part of the next batch and return its outputs."""
        # A request larger than the whole bound still runs when nothing else waits.
        if self._queue and self._queued_rows + rows > self._max_queue_rows:
            raise Overloaded(
                f"the model is busy: {self._queued_rows} rows are waiting; try again shortly",
                headers={"Retry-After": "1"},
            )
        loop = asyncio.get_running_loop()
        job = _Job(feeds, rows, loop.create_future())
        self._queue.append(job)
        self._queued_rows += rows
        if not self._busy:
            self._busy = True
            self._drainer = loop.create_task(self._drain())
        return await job.future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch = self._take()
                try:
                    if len(batch) == 1:
                        outputs = await loop.run_in_executor(
                            self._executor, self._run, batch[0].feeds
                        )
                        _resolve(batch[0], outputs)
                        continue
                    merged = {
                        name: np.concatenate([job.feeds[name] for job in batch])
                        for name in batch[0].feeds
                    }
                    outputs = await loop.run_in_executor(self._executor, self._run, merged)
                except Exception as exc:
                    if len(batch) == 1:
                        _fail(batch[0], exc)
                    else:
                        await self._one_by_one(batch)
                    continue
                offset = 0
                for job in batch:
                    _resolve(
                        job,
                        {k: v[offset : offset + job.rows] for k, v in outputs.items()},
                    )
                    offset += job.rows
        finally:
            self._busy = False

    def _take(self) -> list[_Job]:
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self._max_rows:
            job = self._queue.popleft()
            batch.append(job)
            rows += job.rows
        self._queued_rows -= rows
        return batch

    async def _one_by_one(self, batch: list[_Job]) -> None:
        loop = asyncio.get_running_loop()
        for job in batch:
            try:
                outputs = await loop.run_in_executor(self._executor, self._run, job.feeds)
            except Exception as exc:
                _fail(job, exc)
            else:
                _resolve(job, outputs)


def _resolve(job: _Job, outputs: Outputs) -> None:
    if not job.future.done():
        job.future.set_result(outputs)


def _fail(job: _Job, exc: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(exc)
