"""The decoded image pixels one serving process holds at once, shared between deployments.

Limits per image and per request bound what one request may send, not what many requests
decode together: before this budget, two requests of eight 7000x7000 PNGs, within every
limit, held 6 GiB at once. A request takes its share of the budget before it decodes
(counted from the images' headers) and gives it back when its decoding ends. One deployment
holds at most half of the budget, so that a token holder who floods the server with image
bombs leaves the other half to everybody else. A request that finds no room waits up to
`wait` seconds, then gets 503 `Overloaded` with Retry-After.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from forwardpass.errors import Overloaded
from forwardpass.limits import retry_after

#: How long a request waits for room in the budget before it is refused.
WAIT_SECONDS = 10.0


class PixelBudget:
    """A counting semaphore in pixels with a cap per owner (a deployment), for threads."""

    def __init__(self, capacity: int, wait: float = WAIT_SECONDS) -> None:
        self.capacity = max(1, capacity)
        #: The most one owner holds at once; a charge above it is counted as this much.
        self.share = max(1, self.capacity // 2)
        self.wait = wait
        self._held = 0
        self._owners: dict[str, int] = {}
        self._changed = threading.Condition()

    @property
    def held(self) -> int:
        return self._held

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
                raise Overloaded(
                    "the server is decoding as many image pixels as it may hold at once; "
                    "try again shortly",
                    headers=retry_after(1),
                )
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
