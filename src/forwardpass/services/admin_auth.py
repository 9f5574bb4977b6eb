"""Who may manage: the admin credential, and the refusal of deployment tokens.

A deployment token opens one deployment's predictions and nothing else; shown to a
management call or page it gets 403 InsufficientScopeTokenError, so that its holder learns
the token is valid but not for this.

Every check of an admin token goes through the app's `AdminGate`: wrong tokens are
throttled per client address and overall (limits/throttle.py), and the slow hash runs in a
thread, one at a time, so that guesses cannot take the cores from the predictions.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection, Request

from forwardpass.errors import InsufficientScopeTokenError, InvalidTokenError
from forwardpass.limits.throttle import FailureThrottle, client_key
from forwardpass.registry import Registry, tokens
from forwardpass.settings import Settings

Holder = Literal["admin", "deployment"] | None


def bearer(request: Request) -> str | None:
    return tokens.from_header(request.headers.get("authorization"))


class AdminGate:
    """The one check of an admin token (API bearer, login form, a deployment's spec)."""

    def __init__(self, registry: Registry, settings: Settings) -> None:
        self.registry = registry
        self.throttle = FailureThrottle(
            settings.admin_failures_per_client, settings.admin_failures_total
        )
        self._hashing = asyncio.Semaphore(1)

    async def holder(self, request: HTTPConnection, token: str | None) -> Holder:
        """Whose token it is: the admin's, a deployment's, or nobody's (a guess).

        Raises 429 RateLimited while this client (or everybody) is throttled.
        """
        if not token:
            return None  # no token at all is no guess
        client = client_key(request.client.host if request.client else None)
        self.throttle.admit(client)
        async with self._hashing:
            ok = await run_in_threadpool(self.registry.admin.matches, token)
        found: Holder = "admin" if ok else None
        if not ok and await run_in_threadpool(self.registry.is_deployment_token, token):
            found = "deployment"
        if found is not None:
            self.throttle.not_a_guess(client)
        return found

    async def matches(self, request: HTTPConnection, token: str | None) -> bool:
        """Whether `token` is the admin token; raises 429 RateLimited when throttled."""
        return await self.holder(request, token) == "admin"


def gate(request: HTTPConnection) -> AdminGate:
    found: AdminGate = request.app.state.admin_gate
    return found


async def _check(request: Request, token: str | None) -> None:
    holder = await gate(request).holder(request, token)
    if holder == "admin":
        return
    if holder == "deployment":
        raise InsufficientScopeTokenError(
            "a deployment token opens its deployment's predictions only; "
            "managing needs the admin token"
        )
    raise InvalidTokenError(
        "missing or wrong admin token: send 'Authorization: Bearer <admin token>'",
        headers={"WWW-Authenticate": 'Bearer realm="forwardpass-admin"'},
    )


async def require_admin(request: Request) -> None:
    """Raise unless the request carries the admin token (Bearer or Basic)."""
    await _check(request, bearer(request))


async def refuse_deployment_token(request: Request) -> None:
    """Raise 403 when a request to a page carries a deployment token."""
    token = bearer(request)
    if token is not None:
        await _check(request, token)
