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
from starlette.requests import Request
from starlette.responses import Response

from forwardpass.cache import DeploymentCache, Live
from forwardpass.errors import (
    BadData,
    ForwardpassError,
    JsonParsingError,
    PayloadTooLarge,
    UnsupportedContentType,
)
from forwardpass.server.auth import authorize
from forwardpass.settings import Settings

log = logging.getLogger("forwardpass.requests")

_JSON = "application/json"
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


class ForwardRoute:
    def __init__(self, cache: DeploymentCache, settings: Settings) -> None:
        self.cache = cache
        self.settings = settings

    async def handle(self, request: Request) -> Response:
        started = time.perf_counter()
        deployment_id = request.path_params["deployment_id"]
        status, rows = 500, 0
        try:
            live = authorize(self.cache, request, deployment_id)
            media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
            if media == _JSON:
                body = await self._json(request)
                rows = len(body) if isinstance(body, list) else 0
                answer: Any = {"rows": await live.predict(body)}
            elif media in _FORMS:
                rows = 1
                answer = (await live.predict([await self._form(request, live)]))[0]
            else:
                raise UnsupportedContentType(
                    f"content type {media or 'none'!r} is not supported; send "
                    f"application/json, multipart/form-data or application/x-www-form-urlencoded"
                )
            status = 200
            return Response(orjson.dumps(answer), media_type=_JSON)
        except ForwardpassError as exc:
            status = exc.status
            raise
        finally:
            log.info(
                "forward deployment=%s status=%d rows=%d ms=%.2f",
                deployment_id,
                status,
                rows,
                (time.perf_counter() - started) * 1000,
            )

    async def _read(self, request: Request) -> bytes:
        """The body, refused as soon as it passes the size limit."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _json(self, request: Request) -> Any:
        raw = await self._read(request)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise JsonParsingError(f"the body is not valid JSON: {exc}") from None
        if type(body) is not dict or "rows" not in body:
            raise BadData('the body must be a JSON object {"rows": [ {feature: value}, ... ]}')
        rows = body["rows"]
        if type(rows) is list and len(rows) > self.settings.max_rows:
            raise PayloadTooLarge(
                f"{len(rows)} rows is over the limit of {self.settings.max_rows} rows a request"
            )
        return rows

    async def _form(self, request: Request, live: Live) -> dict[str, Any]:
        assert live.interface is not None
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.settings.max_body_bytes:
            raise PayloadTooLarge(
                f"the body is over the limit of {self.settings.max_body_bytes} bytes"
            )
        try:
            form = await request.form(max_files=64, max_fields=1000)
        except Exception as exc:  # python-multipart's errors carry no common base
            raise BadData(f"the form could not be read: {exc}") from None
        fields: dict[str, str] = {}
        try:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    data = await value.read()
                    try:
                        fields[key] = data.decode()
                    except UnicodeDecodeError:
                        raise BadData(
                            f"form field {key!r}: a file part must be text here"
                        ) from None
                else:
                    fields[key] = value
        finally:
            await form.close()
        return live.interface.from_form(fields)
