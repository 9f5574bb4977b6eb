"""`GET /deployment/{id}/openapi.json`: a deployment's OpenAPI document (see
`services/openapi.py`), for its token holders and the admin."""

from __future__ import annotations

import asyncio

import orjson
from starlette.requests import Request
from starlette.responses import Response

from forwardpass.errors import InvalidTokenError
from forwardpass.registry import Registry, outage, tokens
from forwardpass.services import descriptions
from forwardpass.services.admin_auth import gate
from forwardpass.services.openapi import document
from forwardpass.serving.auth import authorize
from forwardpass.serving.served import ServedDeployments
from forwardpass.settings import Settings
from forwardpass.web import session as sessions


class OpenApiRoute:
    """`GET /deployment/{id}/openapi.json`, with the deployment's own token, the admin token,
    or an admin's session of the deployment view.

    A disabled deployment still describes itself to its token holder: its model is then not
    in memory, so the interface is built from the model file's graph, without a session.
    """

    def __init__(self, cache: ServedDeployments, registry: Registry, settings: Settings) -> None:
        self.cache = cache
        self.registry = registry
        self.settings = settings

    async def _admin(self, request: Request) -> bool:
        """Whether the request carries the admin token or an admin's session."""
        if await gate(request).matches(
            request, tokens.from_header(request.headers.get("authorization"))
        ):
            return True
        key = await asyncio.to_thread(self.registry.admin.session_key)
        return sessions.load(request, key).admin

    async def handle(self, request: Request) -> Response:
        # The admin's credentials and a disabled deployment's model are read from the
        # registry: when it is down, a 503 with Retry-After, as the management API answers.
        with outage.translated():
            return await self._handle(request)

    async def _handle(self, request: Request) -> Response:
        deployment_id = request.path_params["deployment_id"]
        try:
            live = authorize(self.cache, request, deployment_id, enabled_only=False)
        except InvalidTokenError:
            # An admin may read it too: the deployment view's download link sends the session.
            found = self.cache.get(deployment_id)
            if found is None or not await self._admin(request):
                raise
            live = found
        interface = live.interface
        if interface is None:
            deployment = await asyncio.to_thread(self.registry.deployment, live.id)
            interface = await asyncio.to_thread(descriptions.interface, self.registry, deployment)
        server_url = self.settings.public_url or str(request.base_url)
        spec = document(
            live.id,
            interface.inputs,
            interface.outputs,
            server_url=server_url.rstrip("/"),
            max_rows=live.limits.max_rows,  # the deployment's own limit, or its plan's
        )
        return Response(orjson.dumps(spec), media_type="application/json")
