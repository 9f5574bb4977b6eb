"""The errors of forwardpass: one small hierarchy, each with its errorCode and HTTP status.

Every error a client can see is one of these: a code, an HTTP status, a message and the
headers it needs (Retry-After, ...), never a wire body. Each way in renders them in its own
protocol's shape in one place: the contract's `{"errorCode", "errorMessage"}` in
`server/reply.py`, the pages' HTML in `web/pages.py`, the CLI's text or JSON in
`cli/common.py`.
"""

from __future__ import annotations

#: Characters of an error message a client gets (and the log repeats); the rest is cut.
MAX_MESSAGE = 1000


def clip(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class ForwardpassError(Exception):
    """Base of every error forwardpass reports; `code` and `status` follow the contract."""

    code = "InternalError"
    status = 500

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        # Messages quote what the client sent (a name, a value, an id): never all of it.
        message = clip(message, MAX_MESSAGE)
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class InternalError(ForwardpassError):
    code, status = "InternalError", 500


class JsonParsingError(ForwardpassError):
    code, status = "JsonParsingError", 400


class BadData(ForwardpassError):
    code, status = "BadData", 400


class FeatureNotFound(ForwardpassError):
    code, status = "FeatureNotFound", 400


class JsonPropertyTypeMismatch(ForwardpassError):
    code, status = "JsonPropertyTypeMismatch", 400


class DataUriError(ForwardpassError):
    code, status = "DataUriError", 400


class InvalidTokenError(ForwardpassError):
    code, status = "InvalidTokenError", 401


class InsufficientScopeTokenError(ForwardpassError):
    code, status = "InsufficientScopeTokenError", 403


class CrossSiteRequest(ForwardpassError):
    """A page form posted from another origin, or without the session's CSRF token."""

    code, status = "CrossSiteRequest", 403


class DeploymentNotEnabled(ForwardpassError):
    code, status = "DeploymentNotEnabled", 403


class ResourceNotFound(ForwardpassError):
    code, status = "ResourceNotFound", 404


class Conflict(ForwardpassError):
    """A management request that the current state forbids (delete while enabled, ...)."""

    code, status = "Conflict", 409


class IncompatibleModel(ForwardpassError):
    """A model version that does not fit a deployment's API; the message names the changes."""

    code, status = "IncompatibleModel", 409


class PayloadTooLarge(ForwardpassError):
    code, status = "PayloadTooLarge", 413


class RequestTimeout(ForwardpassError):
    """A request's headers or body came too slowly (server/lane.py)."""

    code, status = "RequestTimeout", 408


class UriTooLong(ForwardpassError):
    code, status = "UriTooLong", 414


class HeadersTooLarge(ForwardpassError):
    code, status = "RequestHeaderFieldsTooLarge", 431


class UnsupportedContentType(ForwardpassError):
    code, status = "UnsupportedContentType", 415


class QuotaExceeded(ForwardpassError):
    code, status = "QuotaExceeded", 409


class RateLimited(ForwardpassError):
    code, status = "RateLimited", 429


class Overloaded(ForwardpassError):
    code, status = "Overloaded", 503


class ModelNotLoaded(ForwardpassError):
    """An enabled deployment whose model the server could not load; the message says why."""

    code, status = "ModelNotLoaded", 503


class ModelTimeout(ForwardpassError):
    """A model call that ran past the run timeout; ONNX Runtime was told to end it."""

    code, status = "ModelTimeout", 504


class RegistryUnavailable(ForwardpassError):
    """The registry's database or data directory cannot be opened (a setting, or it is down)."""

    code, status = "RegistryUnavailable", 503


class ProviderUnavailable(ForwardpassError):
    """FORWARDPASS_EXECUTION_PROVIDERS names a provider this ONNX Runtime cannot use (at start)."""

    code, status = "BadSetting", 500


class SignatureError(ForwardpassError):
    """A signature that does not describe its ONNX graph; raised when a model is imported."""

    code, status = "BadData", 400


def at(row: int | None, feature: str | None, message: str) -> str:
    """Prefix `message` with the row index and feature at fault, as the contract asks."""
    where = []
    if row is not None:
        where.append(f"row {row}")
    if feature is not None:
        where.append(f"feature {feature!r}")
    return f"{', '.join(where)}: {message}" if where else message
