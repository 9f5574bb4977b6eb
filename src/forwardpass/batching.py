"""The batcher: requests to one model that arrive while it is busy run as one batch.

When the model is idle a request runs at once. While a batch runs, arriving requests
queue; when it ends, everything queued (up to `max_rows`) runs as the next single ONNX
Runtime call and its outputs are split back. No fixed delay to tune: the batch size follows
the load. If a merged batch fails, each request is run alone, so that one request's bad data
fails only that request. The queue is bounded in rows: when it is full a request is refused
at once with `Overloaded` instead of waiting ever longer.

The model runs in a thread of the executor, never on the event loop. That thread keeps
taking batches until the queue is empty and hands each batch's results back to the event
loop in one callback: one thread wake-up per busy period and one loop wake-up per batch,
instead of a round trip through the loop between batches (on a busy core every hand-over
between threads waits for the scheduler). `observe`, if given, is called once per model
call with (rows in the call, requests still queued), for the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from forwardpass.errors import Overloaded
from forwardpass.timing import Timing

log = logging.getLogger("forwardpass.batching")

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
        max_queue_rows: int = 16_384,
        observe: Callable[[int, int], None] | None = None,
    ) -> None:
        self._run = run
        self._observe = observe
        self._executor = executor
        self._max_rows = max_rows
        self._max_queue_rows = max_queue_rows
        self._queued_rows = 0
        self._queue: deque[_Job] = deque()
        # Guards the hand-over: the loop appends and starts the worker when it is not
        # running; the worker stops only when it finds the queue empty under the lock.
        self._lock = threading.Lock()
        self._busy = False

    @property
    def depth(self) -> int:
        """Requests waiting for the model."""
        return len(self._queue)

    async def submit(self, feeds: Feeds, rows: int, timing: Timing | None = None) -> Outputs:
        """Run `feeds` (`rows` examples) as part of the next batch and return its outputs.

        `timing`, if given, gets the time spent queued and the model call's duration.
        """
        job = _Job(feeds, rows, asyncio.get_running_loop().create_future(), timing)
        with self._lock:
            # A request larger than the whole bound still runs when nothing else waits.
            if self._queue and self._queued_rows + rows > self._max_queue_rows:
                raise Overloaded(
                    f"the model is busy: {self._queued_rows} rows are waiting; try again shortly",
                    headers={"Retry-After": "1"},
                )
            self._queue.append(job)
            self._queued_rows += rows
            start = not self._busy
            self._busy = True
        if start:
            try:
                self._executor.submit(self._work)
            except RuntimeError:  # the executor is shut down: the server is stopping
                with self._lock:
                    self._busy = False
                raise
        return await job.future

    def _work(self) -> None:
        """In an executor thread: run batches until the queue is empty."""
        while True:
            with self._lock:
                if not self._queue:
                    self._busy = False
                    return
                batch = self._take()
                queued = len(self._queue)
            rows = sum(job.rows for job in batch)
            results: list[Outputs | BaseException]
            try:
                if self._observe is not None:
                    try:
                        self._observe(rows, queued)
                    except Exception:  # metrics must never fail a prediction
                        log.exception("the batch observer failed")
                results = self._results(batch, rows)
            except BaseException as exc:
                # Never leave a request waiting, nor the batcher marked busy with no thread.
                results = [exc] * len(batch)
                with self._lock:
                    self._busy = False
                self._hand_back(batch, results)
                raise
            self._hand_back(batch, results)

    @staticmethod
    def _hand_back(batch: list[_Job], results: list[Outputs | BaseException]) -> None:
        loop = batch[0].future.get_loop()
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            loop.call_soon_threadsafe(_deliver, batch, results)

    def _results(self, batch: list[_Job], rows: int) -> list[Outputs | BaseException]:
        """Each job's outputs, or the error of its own rows."""
        try:
            if len(batch) == 1:
                return [self._call(batch, batch[0].feeds, rows)]
            merged = {
                name: np.concatenate([job.feeds[name] for job in batch]) for name in batch[0].feeds
            }
            outputs = self._call(batch, merged, rows)
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            return [self._alone(job) for job in batch]
        results: list[Outputs | BaseException] = []
        offset = 0
        for job in batch:
            results.append({k: v[offset : offset + job.rows] for k, v in outputs.items()})
            offset += job.rows
        return results

    def _alone(self, job: _Job) -> Outputs | BaseException:
        job.queued = time.perf_counter()
        try:
            return self._call([job], job.feeds, job.rows)
        except Exception as exc:
            return exc

    def _call(self, batch: list[_Job], feeds: Feeds, rows: int) -> Outputs:
        """One model call, its queue and run times written to each job's timing."""
        started = time.perf_counter()
        try:
            return self._run(feeds)
        finally:
            ended = time.perf_counter()
            for job in batch:
                if job.timing is not None:
                    job.timing.queue += started - job.queued
                    job.timing.infer += ended - started
                    job.timing.batch_rows = rows

    def _take(self) -> list[_Job]:
        """The next batch (under the lock)."""
        batch = [self._queue.popleft()]
        rows = batch[0].rows
        while self._queue and rows + self._queue[0].rows <= self._max_rows:
            job = self._queue.popleft()
            batch.append(job)
            rows += job.rows
        self._queued_rows -= rows
        return batch


def _deliver(batch: list[_Job], results: list[Outputs | BaseException]) -> None:
    """On the event loop: resolve each request (skipping those whose client went away)."""
    for job, result in zip(batch, results, strict=True):
        if job.future.done():
            continue
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)
