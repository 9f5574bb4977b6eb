"""Batches worked on concurrently, their answers handed back in the batches' order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from typing import TypeVar

B = TypeVar("B")
R = TypeVar("R")


def in_order(
    pool: Executor,
    work: Callable[[B], list[R]],
    batches: Iterable[B],
    workers: int,
    advance: Callable[[int], object],
) -> Iterator[R]:
    """`work(batch)` for each batch on `pool`, each answer's items in the batches' order;
    `advance(n)` after each batch's n items. Batches not begun when the caller stops are
    cancelled."""
    pending: deque[Future[list[R]]] = deque()
    try:
        for batch in batches:
            pending.append(pool.submit(work, batch))
            # Two batches queued per worker keep them busy without reading far ahead.
            while len(pending) >= 2 * workers or (pending and pending[0].done()):
                done = pending.popleft().result()
                advance(len(done))
                yield from done
        while pending:
            done = pending.popleft().result()
            advance(len(done))
            yield from done
    finally:
        for future in pending:
            future.cancel()
