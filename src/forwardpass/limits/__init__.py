"""Limits of the plan and of each deployment, and the rate limiters that enforce a rate (in
memory, or in Redis when `redis_url` is set). `serving.guard.Guard` applies them to each
prediction.
"""

from __future__ import annotations

import math
from typing import Protocol

from forwardpass.limits.memory import MemoryRateLimiter
from forwardpass.limits.plan import LimitOverrides, Limits
from forwardpass.settings import Settings

__all__ = ["LimitOverrides", "Limits", "RateLimiter", "rate_limiter", "retry_after"]


class RateLimiter(Protocol):
    async def wait(self, key: str, rate: float, burst: int) -> float | None:
        """0 if a request may pass now, the seconds until it would, None if unknown."""

    async def close(self) -> None: ...


def rate_limiter(settings: Settings) -> RateLimiter:
    if not settings.redis_url:
        return MemoryRateLimiter()
    from forwardpass.limits.redis import RedisRateLimiter

    return RedisRateLimiter(
        settings.redis_url, settings.redis_prefix, fail_open=settings.redis_fail_open
    )


def retry_after(seconds: float) -> dict[str, str]:
    """The Retry-After header: whole seconds, rounded up, at least 1."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
