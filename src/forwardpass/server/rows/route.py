"""`POST /deployment/{id}/forward`: the Deployment API's one prediction route.

Thin by design: it reads the body in one of the contract's three forms and renders the
answer or the contract's error; `serving.predict.Predictor` does the rest.
`ForwardRoute.respond` serves both ways in: the Starlette endpoint `handle` and the HTTP
protocol's lane (server/rows/lane.py), which reads the body itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp

from forwardpass.batching.run import Abandoned, Rows
from forwardpass.errors import (
    BadData,
    ForwardpassError,
    InternalError,
    JsonParsingError,
    PayloadTooLarge,
    UnsupportedContentType,
    at,
)
from forwardpass.server.reply import Reply, ReplyResponse, error_reply
from forwardpass.services.forms import form_errors
from forwardpass.serving.predict import Predictor
from forwardpass.serving.served import Live
from forwardpass.settings import Settings

log = logging.getLogger("forwardpass.requests")

_JSON = "application/json"
_MULTIPART = "multipart/form-data"
_URLENCODED = "application/x-www-form-urlencoded"


class Body(Protocol):
    """Where a prediction's body comes from: the ASGI request, or the HTTP protocol's own
    buffer on the fast lane (server/rows/lane.py)."""

    async def read(self, limit: int, declared: str | None) -> bytes:
        """The whole body; PayloadTooLarge past `limit` bytes, ClientDisconnect if gone."""

    async def form(self, limit: int, declared: str | None) -> FormData:
        """The body as a multipart or urlencoded form."""

    def gone(self) -> bool:
        """True once the client is known to have closed the connection."""


class ForwardRoute:
    """The rows API's adapter over the one prediction function: its body forms in, its JSON
    (or the contract's error) out."""

    def __init__(self, predictor: Predictor, settings: Settings) -> None:
        self.predictor = predictor
        self.settings = settings

    def body_limit(self, deployment_id: str) -> int:
        """The most body bytes a request to the deployment may send: its own limit, or the
        plan's for an id that is not served (its request fails before the body is read)."""
        live = self.predictor.served.get(deployment_id)
        return (live.limits if live else self.settings).max_body_bytes

    async def handle(self, request: Request) -> ASGIApp:
        """The Starlette endpoint: requests that the fast lane does not take come here."""
        reply = await self.respond(
            request.path_params["deployment_id"],
            wanted(request.scope["headers"]),
            RequestBody(request),
        )
        return ReplyResponse(reply)

    async def respond(self, deployment_id: str, found: Headers, body: Body) -> Reply:
        """The whole prediction request, from its headers and body to the answer or the
        contract's error."""
        call = _RowsCall(found, body)
        try:
            content, timing = await self.predictor.predict(
                deployment_id, found.get(b"authorization"), call
            )
        except ForwardpassError as exc:
            return error_reply(exc)
        except Abandoned:
            # Nobody will read the answer; counted under nginx's "client closed request".
            return error_reply(BadData("the client went away before it was answered"))
        except Exception as exc:
            log.error("unexpected error", exc_info=exc)
            return error_reply(InternalError("the server failed; the error is in its log"))
        return 200, [(b"server-timing", timing.header().encode("latin-1"))], content


class _RowsCall:
    """One request of the rows API, as `Predictor.predict` takes it: JSON `{"rows": [...]}`,
    or one example as a multipart or urlencoded form (then answered as one object)."""

    __slots__ = ("body", "found", "single")

    def __init__(self, found: Headers, body: Body) -> None:
        self.found = found
        self.body = body
        self.single = False

    async def rows(self, live: Live) -> Any:
        found, limits = self.found, live.limits
        media = found.get(b"content-type", "").partition(";")[0].strip().lower()
        declared = found.get(b"content-length")
        try:
            if media == _JSON:
                return _rows(await self.body.read(limits.max_body_bytes, declared), limits.max_rows)
            if media == _MULTIPART:
                self.single = True
                form = await self.body.form(limits.max_body_bytes, declared)
                fields = await _form_fields(form)
                assert live.interface is not None
                return [live.interface.from_form(fields)]
            if media in (_URLENCODED, ""):
                raw = await self.body.read(limits.max_body_bytes, declared)
                # curl's -d sends JSON as a urlencoded form unless told otherwise, and some
                # clients send no Content-Type: a body that is a JSON object is read as one.
                if raw.lstrip()[:1] == b"{":
                    return _rows(raw, limits.max_rows)
                if media == _URLENCODED:
                    self.single = True
                    assert live.interface is not None
                    return [live.interface.from_form(_urlencoded_fields(raw))]
        except ClientDisconnect:
            raise Abandoned() from None
        raise UnsupportedContentType(
            f"content type {media or 'none'!r} is not supported; send "
            f"'Content-Type: application/json' with a JSON body, or a form as "
            f"multipart/form-data or application/x-www-form-urlencoded"
        )

    def gone(self) -> bool:
        return self.body.gone()

    def answer(self, rows: Rows) -> bytes:
        return orjson.dumps(rows[0] if self.single else {"rows": rows})


def _rows(raw: bytes, max_rows: int) -> Any:
    """The rows of a JSON body, refused past `max_rows`; the deployment checks each row."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JsonParsingError(f"the body is not valid JSON: {exc}") from None
    if type(body) is not dict or "rows" not in body:
        raise BadData('the body must be a JSON object {"rows": [ {feature: value}, ... ]}')
    rows = body["rows"]
    if type(rows) is list and len(rows) > max_rows:
        raise PayloadTooLarge(f"{len(rows)} rows is over the limit of {max_rows} rows a request")
    return rows


def _urlencoded_fields(raw: bytes) -> dict[str, str | bytes]:
    """One value per field of a urlencoded form, as `_form_fields` gives a parsed form's."""
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=1000
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadData(f"the form could not be read: {exc}") from None
    fields: dict[str, str | bytes] = {}
    for key, value in pairs:
        if key in fields:
            raise BadData(at(None, key, "given more than once in one form"))
        fields[key] = value
    return fields


async def _form_fields(form: FormData) -> dict[str, str | bytes]:
    """One value per field of a form: text as str, file parts as bytes."""
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
    return fields


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


# The request headers the route reads; ASGI servers and httptools give names in lower case.
_WANTED = frozenset((b"authorization", b"content-type", b"content-length"))

Headers = dict[bytes, str]


def wanted(raw: Iterable[tuple[bytes, bytes]]) -> Headers:
    """The headers the route reads, in one pass over the request's header list.

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
