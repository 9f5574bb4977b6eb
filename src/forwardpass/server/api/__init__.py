"""The management API under `/api/v1/`: models and deployments, behind the admin token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from forwardpass.registry import Registry, outage
from forwardpass.server.api.deployments import DeploymentsApi
from forwardpass.server.api.models import ModelsApi
from forwardpass.server.api.spec import spec
from forwardpass.services.admin_auth import require_admin
from forwardpass.serving.served import ServedDeployments
from forwardpass.settings import Settings

__all__ = ["mount"]

Endpoint = Callable[[Request], Awaitable[Response]]


def mount(registry: Registry, settings: Settings, cache: ServedDeployments) -> Mount:
    models = ModelsApi(registry)
    deployments = DeploymentsApi(registry, settings, cache)
    routes = Router(
        routes=[
            _resource("/openapi.json", GET=spec),
            _resource("/models", GET=models.list, POST=models.upload),
            _resource("/models/{name}", GET=models.versions),
            _resource("/models/{name}/versions/{version}", GET=models.show, DELETE=models.delete),
            _resource("/deployments", GET=deployments.list, POST=deployments.create),
            _resource(
                "/deployments/{id}",
                GET=deployments.show,
                PATCH=deployments.update,
                DELETE=deployments.delete,
            ),
            _resource("/deployments/{id}/token", POST=deployments.rotate),
            _resource("/deployments/{id}/openapi.json", GET=deployments.spec),
            _resource("/deployments/{id}/usage", GET=deployments.usage),
        ],
    )
    return Mount("/api/v1", app=AdminOnly(routes))


def _resource(path: str, **handlers: Endpoint) -> Route:
    """One route per path, so that a 405's Allow header lists every method the path takes
    (one route per method would list only its own)."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, endpoint, methods=list(handlers))


class AdminOnly:
    """Every request under the mount needs the admin token, before routing: an unknown
    path or method answers a deployment token 403 too, never a hint of what exists."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with outage.translated():
            if scope["type"] == "http":
                await require_admin(Request(scope))
            await self.app(scope, receive, send)
