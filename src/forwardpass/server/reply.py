"""A prediction's HTTP answer as plain values: status, extra headers, body.

The prediction routes (the rows API's and the protocol's infer) build one `Reply` for every
outcome, success or error; the ASGI way out (`ReplyResponse`) and the HTTP protocol's fast
lane (server/lane.py) each send it as they must, with the same headers.
"""

from __future__ import annotations

import logging

import orjson
from starlette.types import Receive, Scope, Send

from forwardpass.batching.run import Abandoned
from forwardpass.errors import BadData, ForwardpassError, InternalError

log = logging.getLogger("forwardpass.requests")

HeaderList = list[tuple[bytes, bytes]]
Reply = tuple[int, HeaderList, bytes]

_JSON = (b"content-type", b"application/json")


def contract_body(code: str, message: str) -> bytes:
    """The contract's error body: the one place it is made."""
    return orjson.dumps({"errorCode": code, "errorMessage": message})


def failure(exc: Exception) -> ForwardpassError:
    """What a prediction route answers for an exception out of `Predictor.predict`: its
    own error, the client gone, or (logged) the server's failure."""
    if isinstance(exc, ForwardpassError):
        return exc
    if isinstance(exc, Abandoned):
        # Nobody will read the answer; counted under nginx's "client closed request".
        return BadData("the client went away before it was answered")
    log.error("unexpected error", exc_info=exc)
    return InternalError("the server failed; the error is in its log")


def error_headers(error: ForwardpassError) -> HeaderList:
    """The error's own headers (Retry-After, Connection: close, ...)."""
    return [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in error.headers.items()
    ]


def error_reply(error: ForwardpassError) -> Reply:
    """The contract's error body and the error's own headers."""
    return error.status, error_headers(error), contract_body(error.code, error.message)


def reply_headers(extra: HeaderList, body: bytes) -> HeaderList:
    """Every header of an answer with this body: JSON unless `extra` names its type."""
    headers = [*extra, (b"content-length", str(len(body)).encode("latin-1"))]
    for name, _ in extra:
        if name == b"content-type":
            return headers
    headers.append(_JSON)
    return headers


class ReplyResponse:
    """A `Reply` as an ASGI response: its two messages, without building and merging a
    header list through Starlette's general Response constructor on every request."""

    __slots__ = ("reply",)

    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, extra, body = self.reply
        await send(
            {"type": "http.response.start", "status": status, "headers": reply_headers(extra, body)}
        )
        await send({"type": "http.response.body", "body": body})
