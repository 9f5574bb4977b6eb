"""Rate limits shared by every process through Redis: one atomic round trip per request.

The token bucket lives in a Redis hash per deployment and a Lua script refills and takes
from it in one step, with Redis's own clock, so processes on different machines agree.
When Redis cannot be reached the limiter answers None ("could not check") at once for a
second before trying again, so an outage costs no latency per request.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("forwardpass.limits")

# Returns 0 when the request may pass, else the milliseconds until it would.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""

_RETRY_SECONDS = 1.0  # after a failure, how long to answer "could not check" without trying
_LOG_SECONDS = 30.0  # while Redis stays down, one summary line this often


class RedisRateLimiter:
    def __init__(
        self,
        url: str,
        prefix: str,
        *,
        fail_open: bool,
        timeout: float = 0.5,
        max_connections: int = 64,
    ) -> None:
        # A bounded pool that makes a request wait for a free connection, rather than fail
        # ("Too many connections") under a burst of concurrent requests.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # the limiter decides what a failure means, at once
        )
        self._client = aioredis.Redis(connection_pool=pool)
        self._take = self._client.register_script(_TAKE)
        self._prefix = prefix
        self._policy = "serving without rate limits" if fail_open else "refusing requests (503)"
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._logged_at = 0.0
        self._unchecked = 0

    async def wait(self, key: str, rate: float, burst: int) -> float | None:
        """0 if a request may pass now, the seconds until it would, or None if Redis is down."""
        now = time.monotonic()
        if now < self._retry_at:
            self._down(now, None)
            return None
        try:
            millis = await self._take(keys=[self._prefix + "rate:" + key], args=[rate, burst])
        except (TimeoutError, RedisError, OSError) as exc:
            self._retry_at = now + _RETRY_SECONDS
            self._down(now, exc)
            return None
        if self._down_since is not None:
            log.warning(
                "Redis is reachable again after %.1f s; %d requests were not rate limited",
                time.monotonic() - self._down_since,
                self._unchecked,
            )
            self._down_since, self._unchecked = None, 0
        return int(millis) / 1000.0

    def _down(self, now: float, exc: BaseException | None) -> None:
        self._unchecked += 1
        if self._down_since is None:
            self._down_since = self._logged_at = now
            log.error("Redis is unreachable (%s): %s until it is back", exc, self._policy)
        elif now - self._logged_at >= _LOG_SECONDS:
            self._logged_at = now
            log.error(
                "Redis still unreachable after %.0f s: %s; %d requests unchecked so far",
                now - self._down_since,
                self._policy,
                self._unchecked,
            )

    async def close(self) -> None:
        await self._client.aclose(close_connection_pool=True)
