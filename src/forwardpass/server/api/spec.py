"""The OpenAPI document of the management API, served at `/api/v1/openapi.json`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forwardpass.model.signature import TRANSFORMATIONS
from forwardpass.registry.names import MAX_LENGTH as NAME_LENGTH
from forwardpass.registry.schema import MAX_BIG_INTEGER, MAX_INTEGER
from forwardpass.registry.usage import WINDOWS

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(
    description: str,
    schema: dict[str, Any] | None = None,
    status: str = "200",
    *,
    body: tuple[str, ...] = (),
) -> Any:
    """The answers of an operation; `body` names the body errors it can give (413, 415)."""
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = {_JSON: {"schema": schema}}
    return {status: answer, **_ERRORS, **{code: _BODY_ERRORS[code] for code in body}}


_ERRORS = {
    code: {"$ref": f"#/components/responses/{name}"}
    for code, name in [
        ("400", "BadRequest"),
        ("401", "Unauthorized"),
        ("403", "Forbidden"),
        ("404", "NotFound"),
        ("409", "Conflict"),
        ("429", "TooManyRequests"),
    ]
}
_BODY_ERRORS = {
    "413": {"$ref": "#/components/responses/PayloadTooLarge"},
    "415": {"$ref": "#/components/responses/UnsupportedMediaType"},
}

_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "integer"}}


def _body(schema: dict[str, Any], media: str = _JSON) -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": schema}}}


PATHS: dict[str, Any] = {
    "/api/v1/models": {
        "get": {
            "summary": "List model versions",
            "responses": _ok("Every model version", {"type": "array", "items": _ref("Model")}),
        },
        "post": {
            "summary": "Upload an ONNX file as the next version of a model",
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "name": {"type": "string"},
                        "signature": {"type": "string", "format": "binary"},
                    },
                },
                "multipart/form-data",
            ),
            "responses": _ok("The stored version", _ref("Model"), "201", body=("415",)),
        },
    },
    "/api/v1/models/{name}": {
        "get": {
            "summary": "The versions of a model",
            "parameters": [_NAME],
            "responses": _ok("Its versions", {"type": "array", "items": _ref("Model")}),
        },
    },
    "/api/v1/models/{name}/versions/{version}": {
        "get": {
            "summary": "A model version with its signature",
            "parameters": [_NAME, _VERSION],
            "responses": _ok("The version", _ref("Model")),
        },
        "delete": {
            "summary": "Delete a version no deployment uses",
            "parameters": [_NAME, _VERSION],
            "responses": _ok("Deleted", None, "204"),
        },
    },
    "/api/v1/deployments": {
        "get": {
            "summary": "List deployments",
            "responses": _ok("Every deployment", {"type": "array", "items": _ref("Deployment")}),
        },
        "post": {
            "summary": "Deploy a model version; the answer holds the token, shown only now",
            "requestBody": _body(_ref("NewDeployment")),
            "responses": _ok(
                "The deployment and its token", _ref("Deployment"), "201", body=("413", "415")
            ),
        },
    },
    "/api/v1/deployments/{id}": {
        "get": {
            "summary": "A deployment",
            "parameters": [_ID],
            "responses": _ok("The deployment", _ref("Deployment")),
        },
        "patch": {
            "summary": "Change name, status, API names, model version or limits",
            "parameters": [_ID],
            "requestBody": _body(_ref("DeploymentChange")),
            "responses": _ok("The changed deployment", _ref("Deployment"), body=("413", "415")),
        },
        "delete": {
            "summary": "Delete a disabled deployment",
            "parameters": [_ID],
            "responses": _ok("Deleted", None, "204"),
        },
    },
    "/api/v1/deployments/{id}/token": {
        "post": {
            "summary": "Rotate the token; the answer holds the new one, shown only now",
            "parameters": [_ID],
            "responses": _ok("The deployment and its new token", _ref("Deployment")),
        },
    },
    "/api/v1/deployments/{id}/usage": {
        "get": {
            "summary": "Usage over time: requests, rows, errors and mean latency per bucket",
            "parameters": [
                _ID,
                {
                    "name": "window",
                    "in": "query",
                    "required": False,
                    "description": "day: a point a minute (1,440); month: a point an hour (720)",
                    "schema": {"type": "string", "enum": list(WINDOWS), "default": "day"},
                },
            ],
            "responses": _ok("The series, oldest bucket first", _ref("Usage")),
        },
    },
    "/api/v1/openapi.json": {
        "get": {"summary": "This document", "responses": _ok("OpenAPI 3", {"type": "object"})},
    },
}

# A name as registry/names.py takes it: 1 to 200 characters, not only blanks, no control
# characters (Unicode's Cc: U+0000-U+001F and U+007F-U+009F).
_PLAIN = r"[^\x00-\x1f\x7f-\x9f]"
_TEXT = {
    "type": "string",
    "minLength": 1,
    "maxLength": NAME_LENGTH,
    "pattern": rf"^{_PLAIN}*[^\s\x00-\x1f\x7f-\x9f]{_PLAIN}*$",
}
_NAMES = {
    "type": "object",
    "description": "feature -> API name; the features are the deployment model's own",
    "properties": {
        side: {"type": "object", "additionalProperties": _TEXT} for side in ("inputs", "outputs")
    },
    "additionalProperties": False,
}
_LIMITS = {
    "type": "object",
    "description": "each a number, or null for the plan's",
    "properties": {
        "max_body_bytes": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_BIG_INTEGER,
            "nullable": True,
        },
        "max_rows": {"type": "integer", "minimum": 1, "maximum": MAX_INTEGER, "nullable": True},
        "rate": {"type": "number", "minimum": 0, "nullable": True},
        "burst": {"type": "integer", "minimum": 0, "maximum": MAX_INTEGER, "nullable": True},
        "run_timeout": {
            "type": "number",
            "exclusiveMinimum": True,
            "minimum": 0,
            "nullable": True,
            "description": "seconds one model call may run; then 504 ModelTimeout",
        },
    },
    "additionalProperties": False,
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["errorCode", "errorMessage"],
        "properties": {"errorCode": {"type": "string"}, "errorMessage": {"type": "string"}},
    },
    "Model": {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "integer"},
            "ref": {"type": "string", "example": "churn:2"},
            "sha256": {"type": "string"},
            "size_bytes": {"type": "integer"},
            "created_at": {"type": "string", "format": "date-time"},
            "signature": {"type": "object"},
        },
    },
    "NewDeployment": {
        "type": "object",
        "required": ["model"],
        "properties": {
            "model": {"type": "string", "minLength": 1, "example": "churn:2"},
            "name": _TEXT,
            "enabled": {"type": "boolean", "default": True},
        },
        "additionalProperties": False,
    },
    "DeploymentChange": {
        "type": "object",
        "properties": {
            "name": _TEXT,
            "status": {"type": "string", "enum": ["enabled", "disabled"]},
            "api_names": _NAMES,
            "model": {
                "type": "string",
                "minLength": 1,
                "description": "another version of the same model, NAME:VERSION",
            },
            "limits": _LIMITS,
            "image_transformation": {
                "type": "string",
                "enum": [*TRANSFORMATIONS, "default"],
                "nullable": True,
                "description": "how images are fitted; null or default: the model's own",
            },
        },
        "additionalProperties": False,
    },
    "Deployment": {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "model": {"type": "string"},
            "status": {"type": "string", "enum": ["enabled", "disabled"]},
            "url": {"type": "string", "description": 'the rows API: POST {"rows": [...]}'},
            "oip_url": {
                "type": "string",
                "description": "the same deployment in the Open Inference Protocol (KServe V2, "
                "as tritonclient speaks it): model metadata here, POST .../infer for tensors; "
                "the model name is the deployment's id, the token the same",
            },
            "token": {"type": "string", "description": "only when created or rotated"},
            "api_names": _NAMES,
            "features": {"type": "object"},
            "created_by": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "deployed_at": {"type": "string", "format": "date-time", "nullable": True},
            "updated_at": {"type": "string", "format": "date-time"},
            "load_error": {
                "type": "string",
                "nullable": True,
                "description": "why this server could not load its model (then it answers "
                "503 ModelNotLoaded)",
            },
            "execution_providers": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the ONNX Runtime execution providers that run its model on "
                "this server, in order of preference",
            },
        },
    },
    "Usage": {
        "type": "object",
        "required": ["deployment_id", "window", "step_seconds", "start", "end", "points"],
        "properties": {
            "deployment_id": {"type": "string", "format": "uuid"},
            "window": {"type": "string", "enum": list(WINDOWS)},
            "step_seconds": {"type": "integer", "description": "each bucket's length"},
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "points": {
                "type": "array",
                "description": "every bucket of the window, empty ones too, oldest first",
                "items": {
                    "type": "object",
                    "properties": {
                        "start": {"type": "string", "format": "date-time"},
                        "requests": {"type": "integer"},
                        "rows": {"type": "integer"},
                        "errors": {"type": "integer"},
                        "latency_ms": {
                            "type": "number",
                            "nullable": True,
                            "description": "mean; null for a bucket without requests",
                        },
                    },
                },
            },
        },
    },
}


def document() -> dict[str, Any]:
    error = {_JSON: {"schema": _ref("Error")}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "forwardpass management API", "version": "1"},
        "security": [{"admin": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"admin": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
            "responses": {
                name: {"description": text, "content": error}
                for name, text in [
                    ("BadRequest", "Invalid input (BadData, JsonParsingError)"),
                    ("Unauthorized", "No or a wrong admin token (InvalidTokenError)"),
                    ("Forbidden", "A deployment token (InsufficientScopeTokenError)"),
                    ("NotFound", "No such model or deployment (ResourceNotFound)"),
                    ("Conflict", "Refused in the current state (Conflict, IncompatibleModel)"),
                    ("PayloadTooLarge", "The JSON body is over 1 MiB (PayloadTooLarge)"),
                    ("UnsupportedMediaType", "Another body type (UnsupportedContentType)"),
                    (
                        "TooManyRequests",
                        "Too many wrong admin tokens from this address or from all; "
                        "retry after Retry-After seconds (RateLimited)",
                    ),
                ]
            },
        },
    }


async def spec(_request: Request) -> Response:
    return JSONResponse(document())
