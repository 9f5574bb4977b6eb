"""Limits of the plan and of each deployment, enforced on the prediction path.

`Guard` is what the forward route calls: `admit` checks the deployment's rate (in memory,
or in Redis when `redis_url` is set), `done` counts the request in the usage figures.
Body size and row limits are read from `Live.limits` where the body is read.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

from forwardpass.errors import Overloaded, RateLimited
from forwardpass.limits.memory import MemoryRateLimiter
from forwardpass.limits.plan import LimitOverrides, Limits
from forwardpass.settings import Settings
from forwardpass.usage import Usage

if TYPE_CHECKING:
    from forwardpass.cache import DeploymentCache, Live
    from forwardpass.registry import Registry

__all__ = ["Guard", "LimitOverrides", "Limits", "RateLimiter", "retry_after"]


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


class Guard:
    """The rate limit and the usage counts of every prediction request."""

    def __init__(self, settings: Settings, registry: Registry, cache: DeploymentCache) -> None:
        self.settings = settings
        self.limiter = rate_limiter(settings)
        self.usage = Usage(registry, cache.get)

    async def admit(self, live: Live) -> None:
        """Raise RateLimited when the deployment is over its rate."""
        limits = live.limits
        if not limits.rate:
            return
        wait = await self.limiter.wait(live.id, limits.rate, limits.burst)
        if wait is None:
            self.usage.unchecked(live.id)
            if not self.settings.redis_fail_open:
                raise Overloaded(
                    "the rate limiter cannot be reached; try again shortly",
                    headers=retry_after(1),
                )
        elif wait > 0:
            raise RateLimited(
                f"over the rate limit of {limits.rate:g} requests a second "
                f"(burst {limits.burst}); retry in {math.ceil(wait)} s",
                headers=retry_after(wait),
            )

    def done(self, deployment_id: str, rows: int, error_code: str | None) -> None:
        self.usage.record(deployment_id, rows, error_code)

    async def run(self) -> None:
        """Write usage to the registry periodically (the server's lifespan runs this)."""
        await self.usage.keep_flushing(self.settings.usage_flush_seconds)

    async def close(self) -> None:
        await self.usage.flush()
        await self.limiter.close()
