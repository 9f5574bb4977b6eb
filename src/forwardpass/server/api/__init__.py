"""The management API under `/api/v1/`: models and deployments, behind the admin token."""

from __future__ import annotations

from starlette.routing import Mount, Route

from forwardpass.cache import DeploymentCache
from forwardpass.registry import Registry
from forwardpass.server.api.deployments import DeploymentsApi
from forwardpass.server.api.models import ModelsApi
from forwardpass.server.api.spec import spec_route
from forwardpass.settings import Settings

__all__ = ["mount"]


def mount(registry: Registry, settings: Settings, cache: DeploymentCache) -> Mount:
    models = ModelsApi(registry)
    deployments = DeploymentsApi(registry, settings, cache)
    return Mount(
        "/api/v1",
        routes=[
            Route("/openapi.json", spec_route(registry), methods=["GET"]),
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
        ],
    )
