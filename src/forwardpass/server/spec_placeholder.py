"""PLACEHOLDER for the lead: `GET /deployment/{id}/openapi.json` until issue 3's
`server/openapi.py` lands. Replace this module's route with issue 3's; keep one thing from
here: the deployment view's "Download API spec" link sends the admin's session cookie, not
the deployment token, so the real route must accept an admin session as well.

This minimal document names each feature where the client reads it; it is not the full spec.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forwardpass.errors import InvalidTokenError
from forwardpass.registry import Registry, tokens
from forwardpass.server import describe
from forwardpass.settings import Settings
from forwardpass.web import session as sessions


def minimal_spec(features: dict[str, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    def props(side: str) -> dict[str, Any]:
        return {
            f["api_name"]: {"x-peltarion": {"type": f["type"], "shape": f["shape"]}}
            for f in features[side]
        }

    return {
        "openapi": "3.0.3",
        "info": {"title": name, "version": "1"},
        "paths": {
            "/deployment/{deploymentId}/forward": {"x-peltarion-tensorjson": True},
        },
        "components": {
            "schemas": {
                "input-row": {"type": "object", "properties": props("inputs")},
                "output-row-batch": {
                    "type": "object",
                    "properties": {"rows": {"type": "array", "properties": props("outputs")}},
                },
            }
        },
    }


def spec_route(registry: Registry, settings: Settings) -> Any:
    async def spec(request: Request) -> Response:
        deployment = await run_in_threadpool(
            registry.deployment, request.path_params["deployment_id"]
        )
        token = tokens.from_header(request.headers.get("authorization"))
        if not tokens.matches(token, deployment.token_hash):
            key = await run_in_threadpool(registry.admin.session_key)
            if not sessions.load(request, key).admin:
                raise InvalidTokenError("missing or wrong token")
        data = await run_in_threadpool(describe.deployment_data, registry, settings, deployment)
        return JSONResponse(
            minimal_spec(data["features"], deployment.name),
            headers={"Content-Disposition": f'attachment; filename="{deployment.id}.json"'},
        )

    return spec
