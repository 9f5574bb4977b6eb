"""The batcher: requests to one model that arrive while it is busy run as one batch.

When the model is idle a request runs at once. While a batch runs, arriving requests
queue; when it ends, everything queued (up to `max_rows`) runs as the next single ONNX
Runtime call and its outputs are split back. No fixed delay to tune: the batch size follows
the load. If a merged batch fails, each request is run alone, so that one request's bad data
fails only that request.

The drain task runs the model in the executor (never on the event loop) and resolves each
request's future with its slice of the outputs. `observe`, if given, is called once per
model call with (rows in the call, requests still queued), for the metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from forwardpass.timing import Timing

Feeds = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]


@dataclass
class _Job:
    feeds: Feeds
    rows: int
    future: asyncio.Future[Outputs]
    timing: Timing | None = None
    queued: float = field(default_factory=time.perf_counter)


class Batcher:
    def __init__(
        self,
        run: Callable[[Feeds], Outputs],
        executor: Executor,
        *,
        max_rows: int = 1024,
        observe: Callable[[int, int], None] | None = None,
    ) -> None:
        self._run = run
        self._observe = observe
        self._executor = executor
        self._max_rows = max_rows
        self._queue: deque[_Job] = deque()
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        """Requests waiting for the model."""
        return len(self._queue)

    async def submit(self, feeds: Feeds, rows: int, timing: Timing | None = None) -> Outputs:
        """Run `feeds` (`rows` examples) as part of the next batch and return its outputs.

        `timing`, if given, gets the time spent queued and the model call's duration.
        """
        loop = asyncio.get_running_loop()
        job = _Job(feeds, rows, loop.create_future(), timing)
        self._queue.append(job)
        if not self._busy:
            self._busy = True
            self._drainer = loop.create_task(self._drain())
        return await job.future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = self._take()
                rows = sum(job.rows for job in batch)
                if self._observe is not None:
                    self._observe(rows, len(self._queue))
                try:
                    if len(batch) == 1:
                        outputs = await self._call(batch, batch[0].feeds, rows)
                        _resolve(batch[0], outputs)
                        continue
                    merged = {
                        name: np.concatenate([job.feeds[name] for job in batch])
                        for name in batch[0].feeds
                    }
                    outputs = await self._call(batch, merged, rows)
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

    async def _call(self, batch: list[_Job], feeds: Feeds, rows: int) -> Outputs:
        """One model call in the executor, its queue and run times written to each job."""
        started = time.perf_counter()
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, self._run, feeds
            )
        finally:
            ended = time.perf_counter()
            for job in batch:
                if job.timing is not None:
                    job.timing.queue += started - job.queued
                    job.timing.infer += ended - started
                    job.timing.batch_rows = rows

    def _take(self) -> list[_Job]:
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self._max_rows:
            job = self._queue.popleft()
            batch.append(job)
            rows += job.rows
        return batch

    async def _one_by_one(self, batch: list[_Job]) -> None:
        for job in batch:
            job.queued = time.perf_counter()
            try:
                outputs = await self._call([job], job.feeds, job.rows)
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
