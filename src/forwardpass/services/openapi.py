"""The OpenAPI document of a deployment, generated from its features and API names.

The document is valid OpenAPI 3.0 on its own, and it carries the contract's `x-peltarion`
extensions exactly where the sidekick client reads them:

- `paths["/deployment/{deploymentId}/forward"]["x-peltarion-tensorjson"]`
- `components.schemas["input-row"].properties[<feature>]["x-peltarion"]`
- `components.schemas["output-row-batch"].properties.rows.properties[<feature>]["x-peltarion"]`

The JSON Schema of every value comes from the feature's codec, the same object that decodes
and encodes it on the server, so the document cannot disagree with the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from forwardpass.codecs.rows import Field
from forwardpass.services import openapi_oip

FORWARD_PATH = "/deployment/{deploymentId}/forward"
SPEC_PATH = "/deployment/{deploymentId}/openapi.json"

_ERRORS: dict[str, tuple[str, list[str]]] = {
    "400": (
        "The request is faulty; the message names the row and the feature at fault.",
        [
            "JsonParsingError",
            "BadData",
            "FeatureNotFound",
            "JsonPropertyTypeMismatch",
            "DataUriError",
        ],
    ),
    "401": ("Missing or wrong token.", ["InvalidTokenError"]),
    "403": ("The deployment is disabled.", ["DeploymentNotEnabled", "InsufficientScopeTokenError"]),
    "404": ("No such deployment.", ["ResourceNotFound"]),
    "413": ("The body or its row count is over the deployment's limit.", ["PayloadTooLarge"]),
    "415": ("Not JSON, multipart or form.", ["UnsupportedContentType"]),
    "429": ("Too many requests; retry after Retry-After seconds.", ["RateLimited"]),
    "500": ("A fault of the server.", ["InternalError"]),
    "503": (
        "The server is overloaded (retry after Retry-After seconds), or the deployment's "
        "model could not be loaded.",
        ["Overloaded", "ModelNotLoaded"],
    ),
    "504": ("The model ran past its run timeout and was stopped.", ["ModelTimeout"]),
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}


def peltarion(field: Field) -> dict[str, Any]:
    """The contract's `x-peltarion` entry of one feature."""
    return {"type": field.feature.type, "shape": list(field.feature.shape)}


def document(
    deployment_id: str,
    inputs: Sequence[Field],
    outputs: Sequence[Field],
    *,
    server_url: str,
    max_rows: int | None = None,
) -> dict[str, Any]:
    """The OpenAPI document of the deployment whose API speaks `inputs` and `outputs`."""
    input_props = {f.api_name: {**f.codec.schema(), "x-peltarion": peltarion(f)} for f in inputs}
    output_props = {
        f.api_name: {**f.codec.output_schema(), "x-peltarion": peltarion(f)} for f in outputs
    }
    input_example = {f.api_name: f.codec.shown_example() for f in inputs}
    output_example = {f.api_name: f.codec.output_example() for f in outputs}
    rows: dict[str, Any] = {"type": "array", "items": {"$ref": "#/components/schemas/input-row"}}
    if max_rows is not None:
        rows["maxItems"] = max_rows
    parameter = {
        "name": "deploymentId",
        "in": "path",
        "required": True,
        "description": "The deployment's ID.",
        "schema": {"type": "string", "format": "uuid", "enum": [deployment_id]},
    }
    request_content: dict[str, Any] = {
        "application/json": {
            "schema": {"$ref": "#/components/schemas/input-row-batch"},
            "example": {"rows": [input_example]},
        }
    }
    answer_schema: dict[str, Any] = {"$ref": "#/components/schemas/output-row-batch"}
    if all(f.feature.size == 1 and f.feature.type != "image" for f in inputs):
        # One example as form fields, as curl -F sends it; a tensor has no form field form.
        form = {"schema": {"$ref": "#/components/schemas/input-row"}, "example": input_example}
        request_content["multipart/form-data"] = form
        request_content["application/x-www-form-urlencoded"] = form
        answer_schema = {"oneOf": [answer_schema, {"$ref": "#/components/schemas/output-row"}]}
    security: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"basicAuth": []}]
    oip_paths, oip_schemas = openapi_oip.paths(deployment_id, inputs, outputs)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"forwardpass deployment {deployment_id}",
            "version": "1",
            "description": (
                "Send a batch of rows as JSON and get one row of predictions per input row, "
                "in the same order. A multipart or urlencoded form sends one example. "
                "The deployment also speaks the Open Inference Protocol (KServe V2, as "
                "tritonclient does) under /v2, with its ID as the model name."
            ),
        },
        "servers": [{"url": server_url}],
        "security": security,
        "paths": {
            FORWARD_PATH: {
                "x-peltarion-tensorjson": True,
                "parameters": [parameter],
                "post": {
                    "operationId": "forward",
                    "summary": "Predict a batch of rows",
                    "requestBody": {"required": True, "content": request_content},
                    "responses": {
                        "200": {
                            "description": (
                                "For JSON, one output row per input row, in the same order; "
                                "for a form, the one output row itself."
                            ),
                            "content": {
                                "application/json": {
                                    "schema": answer_schema,
                                    "example": {"rows": [output_example]},
                                }
                            },
                        },
                        **{
                            status: {"$ref": f"#/components/responses/{status}"}
                            for status in _ERRORS
                        },
                    },
                },
            },
            SPEC_PATH: {
                "parameters": [parameter],
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document of the deployment.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **{
                            s: {"$ref": f"#/components/responses/{s}"}
                            for s in ("401", "404", "500")
                        },
                    },
                },
            },
            **oip_paths,
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "The token as the user name and an empty password.",
                },
            },
            "schemas": {
                "input-row": {
                    "type": "object",
                    "properties": input_props,
                    "required": list(input_props),
                    "additionalProperties": False,
                    "example": input_example,
                },
                "input-row-batch": {
                    "type": "object",
                    "properties": {"rows": rows},
                    "required": ["rows"],
                },
                "output-row": {
                    "type": "object",
                    "properties": output_props,
                    "required": list(output_props),
                    "additionalProperties": False,
                    "example": output_example,
                },
                "output-row-batch": {
                    "type": "object",
                    "properties": {
                        "rows": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/output-row"},
                            # Not JSON Schema for an array: the sidekick client reads it here.
                            "properties": output_props,
                        }
                    },
                    "required": ["rows"],
                },
                "error": {
                    "type": "object",
                    "properties": {
                        "errorCode": {"type": "string"},
                        "errorMessage": {"type": "string"},
                    },
                    "required": ["errorCode", "errorMessage"],
                },
                **oip_schemas,
            },
            "responses": {
                status: _error_response(status, text, codes)
                for status, (text, codes) in _ERRORS.items()
            },
        },
    }


def _error_response(status: str, text: str, codes: list[str]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{text} errorCode: {', '.join(codes)}.",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/error"},
                "example": {"errorCode": codes[0], "errorMessage": text},
            }
        },
    }
    if status in ("429", "503"):
        response["headers"] = _RETRY_AFTER
    return response
