"""`/api/v1/models`: upload, list, show and delete model versions."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forwardpass.errors import ResourceNotFound
from forwardpass.registry import Registry
from forwardpass.server.api.body import upload
from forwardpass.services.models import import_model


class ModelsApi:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    async def list(self, request: Request) -> Response:
        found = await run_in_threadpool(self.registry.models)
        return JSONResponse([m.to_dict() for m in found])

    async def upload(self, request: Request) -> Response:
        data, name, signature, filename = await upload(request)
        model = await run_in_threadpool(
            import_model, self.registry, data, name, signature, filename
        )
        return JSONResponse(model.to_dict(), status_code=201)

    async def versions(self, request: Request) -> Response:
        name = request.path_params["name"]
        found = [m for m in await run_in_threadpool(self.registry.models) if m.name == name]
        if not found:
            raise ResourceNotFound(f"no model {name!r}")
        return JSONResponse([m.to_dict() for m in found])

    async def show(self, request: Request) -> Response:
        model = await run_in_threadpool(self.registry.model, _ref(request))
        return JSONResponse(model.to_dict())

    async def delete(self, request: Request) -> Response:
        await run_in_threadpool(self.registry.delete_model, _ref(request))
        return Response(status_code=204)


def _ref(request: Request) -> str:
    version = request.path_params["version"]
    if not (version.isascii() and version.isdigit()):
        raise ResourceNotFound(f"no version {version!r}: a version is a number")
    return f"{request.path_params['name']}:{version}"
