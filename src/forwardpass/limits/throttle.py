"""Throttling of wrong admin tokens, per client address and overall.

Each address may send `per_client` wrong tokens a minute (as a burst, then one every
60/per_client seconds), and all addresses together `overall`; beyond either, every admin
check of that address (or of everybody) answers 429 RateLimited with Retry-After, the
right token included, so that the throttle is no oracle. The buckets are token buckets
held in this process's memory: with N workers an attacker gets N times the allowance.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

from forwardpass.errors import RateLimited
from forwardpass.limits import retry_after
from forwardpass.limits.memory import MemoryRateLimiter

_OVERALL = "*"
# Beyond this many addresses the per-client buckets start afresh (memory stays bounded;
# the overall bucket still holds an attacker with more addresses than this).
MAX_CLIENTS = 10_000


def client_key(host: str | None) -> str:
    """The address a client is counted under: IPv6 by its /64, as one host usually has it."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class FailureThrottle:
    """Token buckets of admin-token attempts: `admit` takes one, `not_a_guess` gives it back.

    An attempt takes its token before the check, so that concurrent wrong guesses cannot
    all start before the first one is counted; a right token gives it back.
    """

    def __init__(
        self, per_client: int, overall: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self._clock = clock
        self._clients = MemoryRateLimiter(clock)
        self._all = MemoryRateLimiter(clock)

    def admit(self, client: str) -> None:
        """Take one attempt from the client's and the overall allowance, or raise 429."""
        if self.per_client:
            if len(self._clients) >= MAX_CLIENTS:
                self._clients = MemoryRateLimiter(self._clock)
            wait = self._clients.take(client, self.per_client / 60, self.per_client)
            if wait > 0:
                raise self._refused(wait, "from this address")
        if self.overall:
            wait = self._all.take(_OVERALL, self.overall / 60, self.overall)
            if wait > 0:
                if self.per_client:
                    self._clients.give_back(client, self.per_client)
                raise self._refused(wait, "from all addresses together")

    def not_a_guess(self, client: str) -> None:
        """Give back the attempt of a right token (or of a valid deployment token)."""
        if self.per_client:
            self._clients.give_back(client, self.per_client)
        if self.overall:
            self._all.give_back(_OVERALL, self.overall)

    @staticmethod
    def _refused(wait: float, where: str) -> RateLimited:
        return RateLimited(
            f"too many wrong admin tokens {where}; retry in {retry_after(wait)['Retry-After']} s",
            headers=retry_after(wait),
        )
