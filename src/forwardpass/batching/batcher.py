"""The batcher: requests to one model that arrive while it is busy run as one batch.

When the model is idle a request runs at once. While a batch runs, arriving requests
queue; when it ends, everything queued (up to `max_rows`) runs as the next batch. No fixed
delay to tune: the batch size follows the load. The queue is bounded in rows: when it is
full a request is refused at once with `Overloaded` instead of waiting ever longer.

A request hands over its rows (parsed JSON) with its deployment's `Codec` and gets its
answer rows back; decoding, the model call and encoding are done per batch in the model's
thread (see `forwardpass.batching.run`), off the event loop. An interface that decodes images has
the request decode its rows itself (see `Live.predict`) and hand over the feeds instead.

Each batcher has one model thread, started by its first request. It takes batches until
the queue is empty, then waits for more; each batch's answers go back to the event loop in
one callback (on a busy core every hand-over between threads waits for the scheduler).
`close` lets the thread end once the queue is empty; a request that still reaches a closed
batcher (it read its deployment before a model swap) runs all the same, on a thread that
ends after it. `observe`, if given, is called once per batch with (rows in the batch,
requests still queued), for the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from forwardpass.batching.future import EagerFuture
from forwardpass.batching.run import Answer, Codec, Feeds, Job, ModelCall, run_batch
from forwardpass.batching.timing import Timing
from forwardpass.errors import InternalError, Overloaded

log = logging.getLogger("forwardpass.batching.batcher")


class Batcher:
    def __init__(
        self,
        run: ModelCall,
        *,
        max_rows: int = 1024,
        max_queue_rows: int = 16_384,
        observe: Callable[[int, int], None] | None = None,
        name: str = "",
    ) -> None:
        """`run` is the model call (feeds, timeout in seconds or None for the model's own);
        `name` goes into its thread's name."""
        self._run = run
        self._observe = observe
        self._max_rows = max_rows
        self._max_queue_rows = max_queue_rows
        self._thread_name = f"forwardpass-model-{name}" if name else "forwardpass-model"
        self._queued_rows = 0
        self._queue: deque[Job] = deque()
        # Guards the queue and the thread's state: the loop appends and wakes or starts the
        # thread; the thread waits or ends only when it finds the queue empty under it.
        self._cond = threading.Condition(threading.Lock())
        self._running = False  # a thread is there and will look at the queue again
        self._waiting = False  # ...and it is waiting to be notified
        self._closed = False

    @property
    def depth(self) -> int:
        """Requests waiting for the model."""
        return len(self._queue)

    async def submit(
        self,
        interface: Codec,
        rows: list[Any],
        timing: Timing | None = None,
        *,
        feeds: Feeds | None = None,
        prepare: Callable[[], Feeds] | None = None,
        gone: Callable[[], bool] | None = None,
        timeout: float | None = None,
        count: int | None = None,
        raw: bool = False,
    ) -> Answer:
        """The answer rows for `rows`, run as part of the next batch.

        `feeds`, if given, are `rows` already decoded by `interface`, and `prepare` makes
        them in the model thread, as the batch starts (errors fail this request only);
        `count` is their number of examples when there are no rows (a tensor request), and
        `raw` asks for the request's slice of the model's outputs instead of rows.
        `timing`, if given, gets the time spent queued and the batch's decode, infer and
        encode durations.
        `gone`, if given, says whether the client has gone away: if so when the batch
        starts, the request is not run and fails with `Abandoned`. `timeout`, if given, is
        the seconds its model call may run; a batch's call gets the longest of its requests'.
        """
        job = Job(
            interface,
            rows,
            len(rows) if count is None else count,
            EagerFuture(asyncio.get_running_loop()),
            timing,
            feeds,
            gone,
            timeout,
            raw,
            prepare,
        )
        with self._cond:
            # A request larger than the whole bound still runs when nothing else waits.
            if self._queue and self._queued_rows + job.count > self._max_queue_rows:
                raise Overloaded(
                    f"the model is busy: {self._queued_rows} rows are waiting; try again shortly",
                    headers={"Retry-After": "1"},
                )
            self._queue.append(job)
            self._queued_rows += job.count
            start = not self._running
            if start:
                self._running = True
            elif self._waiting:
                self._cond.notify()
        if start:
            self._start(job)
        return await job.future

    def close(self) -> None:
        """Let the model thread end once the queue is empty (without waiting for it)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _start(self, job: Job) -> None:
        thread = threading.Thread(target=self._work, name=self._thread_name, daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no new threads: the interpreter is shutting down
            with self._cond:
                self._running = False
                if job in self._queue:
                    self._queue.remove(job)
                    self._queued_rows -= job.count
            raise

    def _work(self) -> None:
        """The model thread: run batches until the queue is empty, then wait for more."""
        while True:
            with self._cond:
                while not self._queue:
                    # A closed batcher's thread ends; a request that comes later starts one.
                    if self._closed:
                        self._running = False
                        return
                    self._waiting = True
                    self._cond.wait()
                    self._waiting = False
                batch = self._take()
                queued = len(self._queue)
            try:
                if self._observe is not None:
                    try:
                        self._observe(sum(job.count for job in batch), queued)
                    except Exception:  # metrics must never fail a prediction
                        log.exception("the batch observer failed")
                run_batch(batch, self._run)
            except BaseException as exc:
                # Never leave a request waiting, nor the batcher marked running with no thread.
                for job in batch:
                    if job.result is None:
                        job.result = exc
                with self._cond:
                    self._running = self._waiting = False
                _hand_back(batch)
                raise
            _hand_back(batch)

    def _take(self) -> list[Job]:
        """The next batch (under the lock)."""
        batch = [self._queue.popleft()]
        rows = batch[0].count
        while self._queue and rows + self._queue[0].count <= self._max_rows:
            job = self._queue.popleft()
            batch.append(job)
            rows += job.count
        self._queued_rows -= rows
        return batch


def _hand_back(batch: list[Job]) -> None:
    loop = batch[0].future.get_loop()
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
        loop.call_soon_threadsafe(_deliver, batch)


def _deliver(batch: list[Job]) -> None:
    """On the event loop: resolve each request."""
    for job in batch:
        result = job.result
        if result is None:  # a path of run_batch that forgot a job: fail it, never hang
            result = InternalError("the batch gave this request no answer")
        job.future.set(result)
