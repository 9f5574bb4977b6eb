"""The one place where errors become HTTP responses: in the contract's JSON shape, or under
`/v2` in the Open Inference Protocol's (`{"error": ...}`), which its clients read (tritonclient
fails on any other body)."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from forwardpass.errors import ForwardpassError, InternalError
from forwardpass.server.oip.route import error_body
from forwardpass.server.oip.route import error_reply as oip_error_reply
from forwardpass.server.reply import contract_body, error_reply

log = logging.getLogger("forwardpass.server")

# Starlette's own HTTP errors (no route, wrong method) in the contract's vocabulary.
_HTTP_CODES = {404: "ResourceNotFound", 405: "MethodNotAllowed"}


def _protocol(request: Request) -> bool:
    """True for a request of the Open Inference Protocol's paths."""
    path = request.url.path
    return path == "/v2" or path.startswith("/v2/")


def error_response(error: ForwardpassError, request: Request) -> Response:
    status, _, body = (oip_error_reply if _protocol(request) else error_reply)(error)
    return Response(body, status_code=status, headers=error.headers, media_type="application/json")


async def on_forwardpass_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ForwardpassError)
    return error_response(exc, request)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "BadRequest")
    message = str(exc.detail)
    body = error_body(message) if _protocol(request) else contract_body(code, message)
    return Response(
        body, status_code=exc.status_code, headers=exc.headers, media_type="application/json"
    )


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error", exc_info=exc)
    return error_response(InternalError("the server failed; the error is in its log"), request)


HANDLERS = {
    ForwardpassError: on_forwardpass_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
