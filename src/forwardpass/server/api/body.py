"""Reading management requests: JSON objects and model uploads, with clear errors."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request

from forwardpass.errors import BadData, JsonParsingError, PayloadTooLarge, UnsupportedContentType
from forwardpass.model import signature as sig
from forwardpass.services.forms import form_errors
from forwardpass.services.models import signature_text

_JSON_LIMIT = 1024 * 1024


async def json_object(request: Request, allowed: set[str]) -> dict[str, Any]:
    """The body as a JSON object whose keys are all in `allowed`."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedContentType("send the body as application/json")
    raw = await request.body()
    if len(raw) > _JSON_LIMIT:
        raise PayloadTooLarge(f"a management request is at most {_JSON_LIMIT} bytes")
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as exc:
        raise JsonParsingError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadData("the body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadData(
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return body


async def upload(request: Request) -> tuple[bytes, str, sig.Signature | None, str]:
    """(model bytes, name, signature, file name) from a multipart form with `file`, `name`,
    `signature`."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise UnsupportedContentType(
            "upload a model as multipart/form-data with a 'file' part (and optional "
            "'name' and 'signature')"
        )
    with form_errors():
        form = await request.form(max_files=2, max_fields=10)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise BadData("the form needs a 'file' part holding the ONNX file")
        data = await file.read()
        name = form.get("name")
        given = form.get("signature")
        signature = None
        if isinstance(given, UploadFile):
            text = await given.read()
            signature = signature_text(text) if text.strip() else None
        elif isinstance(given, str) and given.strip():
            signature = signature_text(given.encode())
        filename = (file.filename or "model.onnx").rsplit("/", 1)[-1]
        default = filename.rsplit(".", 1)[0] if "." in filename[1:] else filename
        chosen = name if isinstance(name, str) and name.strip() else default
        return data, chosen.strip(), signature, filename
    finally:
        await form.close()
