"""`POST /deployment/{id}/forward`: the Deployment API's one prediction route.

Thin by design: find the deployment in the cache, check the token and status, read the
body in one of the contract's three forms, and hand the rows to the deployment.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from forwardpass.cache import DeploymentCache, Live
from forwardpass.errors import (
    BadData,
    ForwardpassError,
    JsonParsingError,
    PayloadTooLarge,
    UnsupportedContentType,
    at,
)
from forwardpass.limits import Guard
from forwardpass.server import metrics
from forwardpass.server.auth import authorize_header
from forwardpass.settings import Settings
from forwardpass.timing import Timing

log = logging.getLogger("forwardpass.requests")

_JSON = "application/json"
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


class ForwardRoute:
    def __init__(self, cache: DeploymentCache, settings: Settings, guard: Guard) -> None:
        self.cache = cache
        self.settings = settings
        self.guard = guard

    async def handle(self, request: Request) -> ASGIApp:
        timing = Timing()
        deployment_id = request.path_params["deployment_id"]
        status, rows = 500, 0
        code: str | None = "InternalError"
        try:
            headers = _headers(request.scope)
            live = authorize_header(self.cache, headers.get(b"authorization"), deployment_id)
            await self.guard.admit(live)
            media = headers.get(b"content-type", "").partition(";")[0].strip().lower()
            declared = headers.get(b"content-length")
            if media == _JSON:
                body = await self._json(request, live, declared)
                rows = len(body) if isinstance(body, list) else 0
                answer: Any = {"rows": await live.predict(body, timing)}
            elif media in _FORMS:
                rows = 1
                form = await self._form(request, live, declared)
                answer = (await live.predict([form], timing))[0]
            else:
                raise UnsupportedContentType(
                    f"content type {media or 'none'!r} is not supported; send "
                    f"application/json, multipart/form-data or application/x-www-form-urlencoded"
                )
            status, code = 200, None
            encoding = time.perf_counter()
            content = orjson.dumps(answer)
            timing.encode += time.perf_counter() - encoding
            return JsonAnswer(content, timing.header())
        except ForwardpassError as exc:
            status, code = exc.status, exc.code
            raise
        finally:
            self.guard.done(deployment_id, rows, code)
            seconds = time.perf_counter() - timing.started
            metrics.observe_request(
                metrics.UNKNOWN if status == 404 else deployment_id, status, rows, seconds
            )
            log.info(
                "forward deployment=%s status=%d rows=%d ms=%.2f",
                deployment_id,
                status,
                rows,
                seconds * 1000,
            )

    async def _read(self, request: Request, limit: int, declared: str | None) -> bytes:
        """The body, refused as soon as it passes the size limit."""
        _refuse_declared(declared, limit)
        chunks, size = [], 0
        # ASGI messages read directly: request.stream() is an async generator, whose
        # setup costs more than the rest of reading a small body (seen in a profile).
        while True:
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _json(self, request: Request, live: Live, declared: str | None) -> Any:
        raw = await self._read(request, live.limits.max_body_bytes, declared)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise JsonParsingError(f"the body is not valid JSON: {exc}") from None
        if type(body) is not dict or "rows" not in body:
            raise BadData('the body must be a JSON object {"rows": [ {feature: value}, ... ]}')
        rows = body["rows"]
        if type(rows) is list and len(rows) > live.limits.max_rows:
            raise PayloadTooLarge(
                f"{len(rows)} rows is over the limit of {live.limits.max_rows} rows a request"
            )
        return rows

    async def _form(self, request: Request, live: Live, declared: str | None) -> dict[str, Any]:
        assert live.interface is not None
        limit = live.limits.max_body_bytes
        _refuse_declared(declared, limit)
        try:
            form = await _bounded(request, limit).form(max_files=64, max_fields=1000)
        except PayloadTooLarge:
            raise
        except Exception as exc:  # python-multipart's errors carry no common base
            raise BadData(f"the form could not be read: {exc}") from None
        fields: dict[str, str | bytes] = {}
        try:
            for key, value in form.multi_items():
                if key in fields:
                    # One example has one value per feature: which one was meant is a guess.
                    raise BadData(at(None, key, "given more than once in one form"))
                # File parts stay bytes: the feature's codec reads them (an image as is).
                fields[key] = await value.read() if isinstance(value, UploadFile) else value
        finally:
            await form.close()
        return live.interface.from_form(fields)


# The request headers the route reads; ASGI servers give header names in lower case.
_WANTED = frozenset((b"authorization", b"content-type", b"content-length"))


def _headers(scope: Scope) -> dict[bytes, str]:
    """The headers the route reads, in one pass over the ASGI scope.

    Starlette's `request.headers.get` scans every header once per name asked for; a
    profile showed the three scans per prediction. As there, the first value of a name wins.
    """
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in _WANTED and name not in found:
            found[name] = value.decode("latin-1")
    return found


class JsonAnswer:
    """A prediction's 200 answer, sent as its two ASGI messages.

    The same headers as Starlette's `Response(content, media_type="application/json",
    headers={"Server-Timing": ...})`, without building and merging a header list through
    its general constructor on every request.
    """

    __slots__ = ("body", "server_timing")

    def __init__(self, body: bytes, server_timing: str) -> None:
        self.body = body
        self.server_timing = server_timing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"server-timing", self.server_timing.encode("latin-1")),
                    (b"content-length", str(len(self.body)).encode("latin-1")),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


def _refuse_declared(declared: str | None, limit: int) -> None:
    """Refuse a body whose declared Content-Length is over the limit, before reading it."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


def _too_large(limit: int) -> PayloadTooLarge:
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
            raise _too_large(limit)
        return message

    return Request(request.scope, limited)
