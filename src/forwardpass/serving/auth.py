"""Who may use a deployment: the one token check shared by its routes."""

from __future__ import annotations

from starlette.requests import Request

from forwardpass.errors import DeploymentNotEnabled, InvalidTokenError, ResourceNotFound
from forwardpass.registry import tokens
from forwardpass.serving.served import Live, ServedDeployments


def authorize(
    cache: ServedDeployments, request: Request, deployment_id: str, *, enabled_only: bool = True
) -> Live:
    """The deployment if the request carries its token (Bearer or Basic).

    Raises ResourceNotFound, InvalidTokenError, and, when `enabled_only`, DeploymentNotEnabled
    for a disabled deployment.
    """
    return authorize_header(
        cache, request.headers.get("authorization"), deployment_id, enabled_only=enabled_only
    )


def authorize_header(
    cache: ServedDeployments,
    authorization: str | None,
    deployment_id: str,
    *,
    enabled_only: bool = True,
    token_checked: bool = False,
) -> Live:
    """`authorize` given the Authorization header's value (None when there is none).

    `token_checked`: the caller vouches for the request (an admin's page session)."""
    live = cache.get(deployment_id)
    if live is None:
        raise ResourceNotFound(f"no deployment {deployment_id!r}")
    token = tokens.from_header(authorization)
    if not token_checked and not tokens.matches(token, live.token_hash):
        raise InvalidTokenError(
            "missing or wrong token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="forwardpass"'},
        )
    if enabled_only and not live.enabled:
        raise DeploymentNotEnabled("the deployment is disabled: queries will be denied")
    if enabled_only:
        live.require_loaded()
    return live
