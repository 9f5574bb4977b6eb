"""Reading management requests: JSON objects and model uploads, with clear errors."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request

from forwardpass import signature as sig
from forwardpass.errors import BadData, JsonParsingError, PayloadTooLarge, UnsupportedContentType

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


def signature_text(text: bytes) -> sig.Signature:
    """A signature from the bytes of a JSON or YAML file (YAML reads JSON too)."""
    return sig.Signature.from_text(text)


async def upload(request: Request) -> tuple[bytes, str, sig.Signature | None]:
    """(ONNX bytes, name, signature) from a multipart form with `file`, `name`, `signature`."""
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise UnsupportedContentType(
            "upload a model as multipart/form-data with a 'file' part (and optional "
            "'name' and 'signature')"
        )
    try:
        form = await request.form(max_files=2, max_fields=10)
    except Exception as exc:  # python-multipart's errors carry no common base
        raise BadData(f"the form could not be read: {exc}") from None
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
        default = (file.filename or "model").rsplit("/", 1)[-1].removesuffix(".onnx")
        chosen = name if isinstance(name, str) and name.strip() else default
        return data, chosen.strip(), signature
    finally:
        await form.close()
