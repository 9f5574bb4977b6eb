"""The errors the client raises: the server's own hierarchy, one class per errorCode.

`forwardpass.errors.BadData`, `InvalidTokenError`, `RateLimited`, ... are raised as they are,
each carrying `code`, `status` (the HTTP status received) and `message`. What the contract
does not name becomes `UnexpectedResponse`; a server that cannot be reached,
`ConnectionFailed`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from forwardpass import errors
from forwardpass.errors import ForwardpassError


class UnexpectedResponse(ForwardpassError):
    """An answer outside the contract: an unknown errorCode, or a body that is not its JSON."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class ConnectionFailed(ForwardpassError, ConnectionError):
    """The server could not be reached, or the connection broke, after every retry."""

    code, status = "ConnectionFailed", 0


def _by_code() -> dict[str, type[ForwardpassError]]:
    found: dict[str, type[ForwardpassError]] = {}
    for value in vars(errors).values():
        if (
            isinstance(value, type)
            and issubclass(value, ForwardpassError)
            and value not in (ForwardpassError, errors.SignatureError)  # bases that reuse codes
        ):
            found.setdefault(value.code, value)
    return found


BY_CODE = _by_code()


def from_response(status: int, content: bytes) -> ForwardpassError:
    """The exception for an error answer: the class of its errorCode, with the real status."""
    body: Any = None
    with contextlib.suppress(orjson.JSONDecodeError):
        body = orjson.loads(content)
    if not isinstance(body, dict) or not isinstance(body.get("errorCode"), str):
        text = content[:300].decode(errors="replace")
        return UnexpectedResponse("UnexpectedResponse", status, f"HTTP {status}: {text}")
    code, message = body["errorCode"], str(body.get("errorMessage", ""))
    cls = BY_CODE.get(code)
    if cls is None:
        return UnexpectedResponse(code, status, message)
    error = cls(message)
    error.status = status
    return error
