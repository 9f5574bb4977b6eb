"""The Starlette app with a short way in for predictions.

`POST /deployment/{id}/forward` is most of the traffic, and a profile under load put more
time in Starlette's layers around it (server-error and exception middleware, the router's
regex matching, the endpoint wrapper) than in the route itself. `App` sends that one route
straight to `ForwardRoute.handle` with the same Request, the same error responses
(server/errors.py) and the same route behaviour; everything else goes through Starlette.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from forwardpass.errors import ForwardpassError
from forwardpass.server.errors import error_response, on_unexpected
from forwardpass.server.forward import ForwardRoute

_PREFIX, _SUFFIX = "/deployment/", "/forward"


class App(Starlette):
    def __init__(self, *args: Any, forward: ForwardRoute, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.forward = forward

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            if path.startswith(_PREFIX) and path.endswith(_SUFFIX) and not scope.get("root_path"):
                deployment_id = path[len(_PREFIX) : -len(_SUFFIX)]
                # the same match as the Starlette route's {deployment_id}: one path segment
                if deployment_id and "/" not in deployment_id:
                    scope["app"] = self
                    scope["path_params"] = {"deployment_id": deployment_id}
                    await self._forward(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response: ASGIApp
        try:
            response = await self.forward.handle(request)
        except ForwardpassError as exc:
            response = error_response(exc)
        except Exception as exc:
            response = await on_unexpected(request, exc)
        await response(scope, receive, send)
