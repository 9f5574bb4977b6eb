"""The one place where errors become HTTP responses in the contract's JSON shape."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from forwardpass.errors import ForwardpassError, InternalError
from forwardpass.server.reply import contract_body, error_reply

log = logging.getLogger("forwardpass.server")

# Starlette's own HTTP errors (no route, wrong method) in the contract's vocabulary.
_HTTP_CODES = {404: "ResourceNotFound", 405: "MethodNotAllowed"}


def error_response(error: ForwardpassError) -> Response:
    status, _, body = error_reply(error)
    return Response(body, status_code=status, headers=error.headers, media_type="application/json")


async def on_forwardpass_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ForwardpassError)
    return error_response(exc)


async def on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "BadRequest")
    return Response(
        contract_body(code, str(exc.detail)),
        status_code=exc.status_code,
        headers=exc.headers,
        media_type="application/json",
    )


async def on_unexpected(_request: Request, exc: Exception) -> Response:
    log.error("unexpected error", exc_info=exc)
    return error_response(InternalError("the server failed; the error is in its log"))


HANDLERS = {
    ForwardpassError: on_forwardpass_error,
    HTTPException: on_http_exception,
    Exception: on_unexpected,
}
