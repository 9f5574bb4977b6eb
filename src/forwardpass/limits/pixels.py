"""The decoded image pixels one serving process holds at once, shared between deployments.

Limits per image and per request bound what one request may send, not what many requests
decode together: before this budget, two requests of eight 7000x7000 PNGs, within every
limit, held 6 GiB at once. A request takes its share of the budget before it decodes
(counted from the images' headers) and gives it back when its decoding ends. One deployment
holds at most half of the budget, so that a token holder who floods the server with image
bombs leaves the other half to everybody else. A request that finds no room waits up to
`wait` seconds, then gets 503 `Overloaded` with Retry-After.

Those waits happen in threads, as the decoding does: in threads of the budget's own, a few
an owner at a time (`PixelBudget.run`). In asyncio's default threads (six on two cores), one
deployment's flood of image requests held every one of them, and what else runs there
stopped with it: the registry refresh (a deployment disabled meanwhile kept answering), the
usage flush, and every other deployment's images.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

from forwardpass.errors import Overloaded
from forwardpass.limits import retry_after

#: How long a request waits for room in the budget before it is refused.
WAIT_SECONDS = 10.0
#: An owner's calls that decode, or wait for room, in the budget's threads at once; its
#: others wait on the event loop, holding no thread.
PER_OWNER = max(4, os.cpu_count() or 1)

T = TypeVar("T")


class PixelBudget:
    """A counting semaphore in pixels with a cap per owner (a deployment), for threads;
    and the threads, a few an owner at a time, in which the event loop's requests wait."""

    def __init__(
        self, capacity: int, wait: float = WAIT_SECONDS, per_owner: int = PER_OWNER
    ) -> None:
        self.capacity = max(1, capacity)
        #: The most one owner holds at once; a charge above it is counted as this much.
        self.share = max(1, self.capacity // 2)
        self.wait = wait
        self.per_owner = max(1, per_owner)
        self._held = 0
        self._owners: dict[str, int] = {}
        self._changed = threading.Condition()
        self._gates: dict[str, asyncio.Semaphore] = {}  # on the event loop, per owner
        self._threads: ThreadPoolExecutor | None = None
        self._threads_made = threading.Lock()

    @property
    def held(self) -> int:
        return self._held

    async def run(self, owner: str, work: Callable[[], T]) -> T:
        """`work` (a decode that holds this budget) off the event loop, in the budget's own
        threads, at most `per_owner` of `owner`'s at once; its others wait here, holding no
        thread, up to `wait` seconds."""
        gate = self._gates.get(owner)
        if gate is None:
            gate = self._gates[owner] = asyncio.Semaphore(self.per_owner)
        if gate.locked():
            try:
                await asyncio.wait_for(gate.acquire(), self.wait)
            except TimeoutError:
                raise _full() from None
        else:
            await gate.acquire()
        loop = asyncio.get_running_loop()

        def release(_: Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(gate.release)

        try:
            done = self._pool().submit(work)
        except BaseException:
            gate.release()
            raise
        # When the work ends, not when its caller stops waiting: a request given up on
        # still holds its thread until its decode is over.
        done.add_done_callback(release)
        return await asyncio.wrap_future(done)

    def _pool(self) -> ThreadPoolExecutor:
        with self._threads_made:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(
                    max_workers=8 * self.per_owner, thread_name_prefix="forwardpass-decode"
                )
            return self._threads

    @contextmanager
    def hold(self, owner: str, pixels: int) -> Iterator[None]:
        """Hold `pixels` of the budget for `owner` while the block runs (blocking)."""
        charge = min(max(0, pixels), self.share)
        self._take(owner, charge)
        try:
            yield
        finally:
            self._give(owner, charge)

    def _take(self, owner: str, charge: int) -> None:
        def room() -> bool:
            return (
                self._held + charge <= self.capacity
                and self._owners.get(owner, 0) + charge <= self.share
            )

        with self._changed:
            if not self._changed.wait_for(room, timeout=self.wait):
                raise _full()
            self._held += charge
            self._owners[owner] = self._owners.get(owner, 0) + charge

    def _give(self, owner: str, charge: int) -> None:
        with self._changed:
            self._held -= charge
            left = self._owners[owner] - charge
            if left:
                self._owners[owner] = left
            else:
                del self._owners[owner]
            self._changed.notify_all()


def _full() -> Overloaded:
    return Overloaded(
        "the server is decoding as many image pixels as it may hold at once; try again shortly",
        headers=retry_after(1),
    )
