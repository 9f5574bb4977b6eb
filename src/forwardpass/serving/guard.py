"""The limits of each prediction request, before its work is done, and its usage count.

`Guard` is what a way in calls: `admit` checks the deployment's rate (in memory, or in
Redis when `redis_url` is set), `done` counts the request in the usage figures. Body size
and row limits are read from `Live.limits` where the body is read.
"""

from __future__ import annotations

import math

from forwardpass.errors import Overloaded, RateLimited
from forwardpass.limits import rate_limiter, retry_after
from forwardpass.registry import Registry
from forwardpass.serving.served import Live, ServedDeployments
from forwardpass.serving.usage import Usage
from forwardpass.settings import Settings


class Guard:
    """The rate limit and the usage counts of every prediction request."""

    def __init__(self, settings: Settings, registry: Registry, cache: ServedDeployments) -> None:
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

    def done(
        self, deployment_id: str, rows: int, error_code: str | None, seconds: float, at: float
    ) -> None:
        self.usage.record(deployment_id, rows, error_code, seconds, at)

    async def run(self) -> None:
        """Write usage to the registry periodically (the server's lifespan runs this)."""
        await self.usage.keep_flushing(self.settings.usage_flush_seconds)

    async def close(self) -> None:
        await self.usage.flush()
        await self.limiter.close()
