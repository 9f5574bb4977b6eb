"""`/api/v1/deployments`: create, list, show, change, rotate the token of, delete; usage."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forwardpass.errors import BadData
from forwardpass.limits.plan import Limits
from forwardpass.registry import Deployment, Registry
from forwardpass.server.api.body import json_object
from forwardpass.services import descriptions as describe
from forwardpass.services.changes import apply_changes
from forwardpass.services.openapi import document
from forwardpass.services.usage import usage_series
from forwardpass.serving.served import ServedDeployments
from forwardpass.settings import Settings

_CREATE = {"model", "name", "enabled"}
_UPDATE = {"name", "status", "api_names", "model", "limits", "image_transformation"}


class DeploymentsApi:
    def __init__(self, registry: Registry, settings: Settings, cache: ServedDeployments) -> None:
        self.registry = registry
        self.settings = settings
        self.cache = cache

    def _data(self, deployment: Deployment, token: str | None = None) -> dict[str, Any]:
        return describe.deployment_data(
            self.registry,
            self.settings,
            deployment,
            token,
            load_error=self.cache.failures().get(deployment.id),
            providers=self.cache.providers_of(deployment.id) or self.cache.providers,
        )

    async def list(self, request: Request) -> Response:

        def everything() -> list[dict[str, Any]]:
            return [self._data(d) for d in self.registry.deployments()]

        return JSONResponse(await run_in_threadpool(everything))

    async def create(self, request: Request) -> Response:
        body = await json_object(request, _CREATE)
        model, name, enabled = body.get("model"), body.get("name"), body.get("enabled", True)
        if not isinstance(model, str) or not model:
            raise BadData('"model" is required: "NAME" or "NAME:VERSION"')
        if name is not None and not isinstance(name, str):
            raise BadData('"name" must be a string')
        if not isinstance(enabled, bool):
            raise BadData('"enabled" must be true or false')

        def create() -> dict[str, Any]:
            deployment, token = self.registry.create_deployment(
                model, name, created_by="api", enabled=enabled
            )
            return self._data(deployment, token)

        return JSONResponse(await run_in_threadpool(create), status_code=201)

    async def show(self, request: Request) -> Response:

        def show() -> dict[str, Any]:
            return self._data(self.registry.deployment(request.path_params["id"]))

        return JSONResponse(await run_in_threadpool(show))

    async def spec(self, request: Request) -> Response:
        """The deployment's own OpenAPI document, as its token holders get it."""
        deployment_id = request.path_params["id"]

        def spec() -> dict[str, Any]:
            deployment = self.registry.deployment(deployment_id)
            face = describe.interface(self.registry, deployment)
            return document(
                deployment.id,
                face.inputs,
                face.outputs,
                server_url=(self.settings.public_url or str(request.base_url)).rstrip("/"),
                max_rows=Limits.of(deployment.limits, self.settings).max_rows,
            )

        return JSONResponse(await run_in_threadpool(spec))

    async def update(self, request: Request) -> Response:
        """Change any of name, status, api_names, model (a version switch) and limits."""
        body = await json_object(request, _UPDATE)

        def update() -> dict[str, Any]:
            return self._data(apply_changes(self.registry, request.path_params["id"], body))

        return JSONResponse(await run_in_threadpool(update))

    async def rotate(self, request: Request) -> Response:

        def rotate() -> dict[str, Any]:
            deployment, token = self.registry.rotate_token(request.path_params["id"])
            return self._data(deployment, token)

        return JSONResponse(await run_in_threadpool(rotate))

    async def usage(self, request: Request) -> Response:
        """Usage over time: `?window=day` (per minute) or `month` (per hour)."""
        window = request.query_params.get("window", "day")
        series = await run_in_threadpool(
            usage_series, self.registry, request.path_params["id"], window
        )
        return JSONResponse(series)

    async def delete(self, request: Request) -> Response:
        await run_in_threadpool(self.registry.delete_deployment, request.path_params["id"])
        return Response(status_code=204)
