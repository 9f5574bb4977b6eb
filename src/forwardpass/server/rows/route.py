"""`POST /deployment/{id}/forward`: the Deployment API's one prediction route.

Thin by design: it reads the body in one of the contract's three forms and renders the
answer or the contract's error; `serving.predict.Predictor` does the rest.
`ForwardRoute.respond` serves both ways in: the Starlette endpoint `handle` and the HTTP
protocol's lane (server/lane.py), which reads the body itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.datastructures import FormData, UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp

from forwardpass.batching.run import Abandoned, Rows
from forwardpass.errors import (
    BadData,
    JsonParsingError,
    PayloadTooLarge,
    UnsupportedContentType,
    at,
)
from forwardpass.server.body import Body, Headers, RequestBody, wanted
from forwardpass.server.reply import Reply, ReplyResponse, error_reply, failure
from forwardpass.serving.predict import Predictor
from forwardpass.serving.served import Live
from forwardpass.settings import Settings

_JSON = "application/json"
_MULTIPART = "multipart/form-data"
_URLENCODED = "application/x-www-form-urlencoded"


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
        except Exception as exc:
            return error_reply(failure(exc))
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
