"""Who may manage: the admin credential, and the refusal of deployment tokens.

A deployment token opens one deployment's predictions and nothing else; shown to a
management call or page it gets 403 InsufficientScopeTokenError, so that its holder learns
the token is valid but not for this.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from forwardpass.errors import InsufficientScopeTokenError, InvalidTokenError
from forwardpass.registry import Registry, tokens


def bearer(request: Request) -> str | None:
    return tokens.from_header(request.headers.get("authorization"))


def _check(registry: Registry, token: str | None) -> None:
    if registry.admin.matches(token):
        return
    if registry.is_deployment_token(token):
        raise InsufficientScopeTokenError(
            "a deployment token opens its deployment's predictions only; "
            "managing needs the admin token"
        )
    raise InvalidTokenError(
        "missing or wrong admin token: send 'Authorization: Bearer <admin token>'",
        headers={"WWW-Authenticate": 'Bearer realm="forwardpass-admin"'},
    )


async def require_admin(request: Request, registry: Registry) -> None:
    """Raise unless the request carries the admin token (Bearer or Basic)."""
    await run_in_threadpool(_check, registry, bearer(request))


async def refuse_deployment_token(request: Request, registry: Registry) -> None:
    """Raise 403 when a request to a page carries a deployment token."""
    token = bearer(request)
    if token is not None:
        await run_in_threadpool(_check, registry, token)
