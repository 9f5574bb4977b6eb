"""CORS for a deployment's prediction and spec endpoints, so a web page elsewhere can call them.

Off unless `FORWARDPASS_CORS_ORIGINS` names origins. Only `/deployment/{id}/forward` and
`/deployment/{id}/openapi.json` answer cross-origin callers: the management API and the
pages stay same-origin. Starlette's CORSMiddleware does the work; a refused preflight is
the contract's JSON error rather than its plain text. The HTTP protocol's lane hands a
request with an Origin header to the ASGI app when CORS is on (server/lane.py).
"""

from __future__ import annotations

import re

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from forwardpass.server.reply import contract_body

#: The paths a cross-origin page may call: one deployment's forward and spec endpoints.
CORS_PATH = re.compile(r"/deployment/[^/]+/(forward|openapi\.json)")

#: What a caller sends beyond the CORS-safelisted headers: the token.
ALLOW_HEADERS = ("Authorization",)
#: Answer headers a page's script may read besides the safelisted ones.
EXPOSE_HEADERS = ("Retry-After", "Server-Timing")


class _DeploymentCors(CORSMiddleware):
    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        # Starlette names what failed in plain text; say it in the contract's error body.
        failed = bytes(response.body).decode().removeprefix("Disallowed CORS ")
        message = (
            f"this cross-origin request is not allowed ({failed}): the server's "
            "FORWARDPASS_CORS_ORIGINS lists the origins that may call it, with POST and GET, "
            "and the headers Authorization and Content-Type"
        )
        headers = {k: v for k, v in response.headers.items() if k.lower().startswith("vary")}
        return Response(
            contract_body("BadData", message),
            status_code=400,
            headers=headers,
            media_type="application/json",
        )


class Cors:
    """ASGI middleware: CORS on the deployment endpoints, the rest passes untouched."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = _DeploymentCors(
            app,
            allow_origins=origins,
            allow_methods=("GET", "POST"),
            allow_headers=ALLOW_HEADERS,
            expose_headers=EXPOSE_HEADERS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and CORS_PATH.fullmatch(scope["path"]):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
