"""The management API under `/api/v1/`: models and deployments, behind the admin token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from forwardpass.cache import DeploymentCache
from forwardpass.registry import Registry, outage
from forwardpass.server.admin_auth import require_admin
from forwardpass.server.api.deployments import DeploymentsApi
from forwardpass.server.api.models import ModelsApi
from forwardpass.server.api.spec import spec
from forwardpass.settings import Settings

__all__ = ["mount"]


def mount(registry: Registry, settings: Settings, cache: DeploymentCache) -> Mount:
    models = ModelsApi(registry)
    deployments = DeploymentsApi(registry, settings, cache)
    routes = Router(
        routes=[
            Route("/openapi.json", spec, methods=["GET"]),
            Route("/models", models.list, methods=["GET"]),
            Route("/models", models.upload, methods=["POST"]),
            Route("/models/{name}", models.versions, methods=["GET"]),
            Route("/models/{name}/versions/{version}", models.show, methods=["GET"]),
            Route("/models/{name}/versions/{version}", models.delete, methods=["DELETE"]),
            Route("/deployments", deployments.list, methods=["GET"]),
            Route("/deployments", deployments.create, methods=["POST"]),
            Route("/deployments/{id}", deployments.show, methods=["GET"]),
            Route("/deployments/{id}", deployments.update, methods=["PATCH"]),
            Route("/deployments/{id}", deployments.delete, methods=["DELETE"]),
            Route("/deployments/{id}/token", deployments.rotate, methods=["POST"]),
            Route("/deployments/{id}/openapi.json", deployments.spec, methods=["GET"]),
        ],
    )
    return Mount("/api/v1", app=AdminOnly(routes, registry))


class AdminOnly:
    """Every request under the mount needs the admin token, before routing: an unknown
    path or method answers a deployment token 403 too, never a hint of what exists."""

    def __init__(self, app: ASGIApp, registry: Registry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with outage.translated():
            if scope["type"] == "http":
                await require_admin(Request(scope), self.registry)
            await self.app(scope, receive, send)
