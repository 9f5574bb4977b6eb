"""A request's body and the few headers a prediction reads, however the request came in.

Both APIs' prediction routes read their body through `Body`: the ASGI request's
(`RequestBody`), or the HTTP protocol's own buffer on the lane (server/lane.py). Either
refuses a body past the deployment's limit as soon as it is known to be over it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request

from forwardpass.errors import PayloadTooLarge
from forwardpass.services.forms import form_errors


class Body(Protocol):
    """Where a prediction's body comes from: the ASGI request, or the HTTP protocol's own
    buffer on the fast lane (server/lane.py)."""

    async def read(self, limit: int, declared: str | None) -> bytes:
        """The whole body; PayloadTooLarge past `limit` bytes, ClientDisconnect if gone."""

    async def form(self, limit: int, declared: str | None) -> FormData:
        """The body as a multipart or urlencoded form."""

    def gone(self) -> bool:
        """True once the client is known to have closed the connection."""


class RequestBody:
    """The body of an ASGI request, refused as soon as it passes the size limit."""

    def __init__(self, request: Request) -> None:
        self.request = request

    async def read(self, limit: int, declared: str | None) -> bytes:
        refuse_declared(declared, limit)
        chunks, size = [], 0
        # ASGI messages read directly: request.stream() is an async generator, whose
        # setup costs more than the rest of reading a small body (seen in a profile).
        while True:
            message = await self.request.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def form(self, limit: int, declared: str | None) -> FormData:
        refuse_declared(declared, limit)
        return await read_form(_bounded(self.request, limit))

    def gone(self) -> bool:
        # ASGI tells of a disconnect only through receive(), which a waiting request does
        # not call: such requests run even if their client has left.
        return False


async def read_form(request: Request) -> FormData:
    """The request's form, python-multipart's errors as BadData."""
    with form_errors():
        return await request.form(max_files=64, max_fields=1000)


#: The binary tensor extension's header: the length of the JSON before the raw tensors.
INFERENCE_HEADER_LENGTH = b"inference-header-content-length"

# The request headers the routes read; ASGI servers and httptools give names in lower case.
_WANTED = frozenset((b"authorization", b"content-type", b"content-length", INFERENCE_HEADER_LENGTH))

Headers = dict[bytes, str]


def wanted(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The headers the routes read, in one pass over the request's header list.

    Starlette's `request.headers.get` scans every header once per name asked for; a
    profile showed the three scans per prediction. As there, the first value of a name wins.
    """
    found: Headers = {}
    for name, value in raw:
        if name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


def refuse_declared(declared: str | None, limit: int) -> None:
    """Refuse a body whose declared Content-Length is over the limit, before reading it."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)


def too_large(limit: int) -> PayloadTooLarge:
    # Closing the connection stops the upload; otherwise the server would read the rest.
    return PayloadTooLarge(
        f"the body is over the limit of {limit} bytes", headers={"Connection": "close"}
    )


def _bounded(request: Request, limit: int) -> Request:
    """The request, its body cut off with PayloadTooLarge once past `limit` bytes."""
    receive, seen = request.receive, 0

    async def limited() -> Any:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise too_large(limit)
        return message

    return Request(request.scope, limited)
