"""Rate limits held in this process's memory: one token bucket per deployment."""

from __future__ import annotations

import time
from collections.abc import Callable


class MemoryRateLimiter:
    """Token buckets in a dict: one lookup and a little arithmetic per request.

    Right for one serving process; several processes each hold their own buckets, so they
    would together allow their number times the rate (use Redis for those).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}  # key -> [tokens, last refill time]

    async def wait(self, key: str, rate: float, burst: int) -> float | None:
        """0 if a request may pass now, else the seconds until it would."""
        return self.take(key, rate, burst)

    def take(self, key: str, rate: float, burst: int) -> float:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [float(burst), now]
        tokens = min(float(burst), bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / rate

    def give_back(self, key: str, burst: int) -> None:
        """Return the token that `take` took, as when what it paid for did not happen."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket[0] = min(float(burst), bucket[0] + 1.0)

    def __len__(self) -> int:
        return len(self._buckets)

    async def close(self) -> None:
        pass
