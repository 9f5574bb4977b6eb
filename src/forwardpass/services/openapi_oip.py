"""The Open Inference Protocol's paths in a deployment's OpenAPI document.

Its JSON form only: the binary tensor data extension (a JSON header of
`Inference-Header-Content-Length` bytes, then raw tensors) is said in the descriptions, as
OpenAPI cannot state it. The model name is the deployment's id; the names, datatypes and
shapes are the model metadata's (`codecs.tensors`), with an example of a whole request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from forwardpass.codecs.rows import Field
from forwardpass.codecs.tensors import DATATYPES, input_info, output_info

MODEL_PATH = "/v2/models/{modelName}"
#: The platform the model metadata names: forwardpass runs every model in ONNX Runtime.
PLATFORM = "onnxruntime_onnx"

_ERRORS = {
    "400": "The request is faulty: its JSON, a tensor's datatype, shape or data, a value.",
    "401": "Missing or wrong token.",
    "403": "The deployment is disabled.",
    "404": "No such model (deployment) or version.",
    "413": "The body, or a tensor's first dimension (rows), is over the deployment's limit.",
    "429": "Too many requests; retry after Retry-After seconds.",
    "500": "A fault of the server.",
    "503": "The server is overloaded, or the deployment's model could not be loaded.",
    "504": "The model ran past its run timeout and was stopped.",
}


def example_request(inputs: Sequence[Field]) -> dict[str, Any]:
    """A request of one example, from each input codec's own example value."""
    tensors = []
    for f in inputs:
        info = input_info(f)
        value = f.codec.example()
        data = value["data"] if isinstance(value, dict) else [value]
        shape = [1, *info.shape[1:]]
        tensors.append({"name": info.name, "datatype": info.datatype, "shape": shape, "data": data})
    return {"inputs": tensors}


def paths(
    deployment_id: str, inputs: Sequence[Field], outputs: Sequence[Field]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The protocol's paths, and the schemas they refer to (under components.schemas)."""
    name = {
        "name": "modelName",
        "in": "path",
        "required": True,
        "description": "The model's name: the deployment's ID.",
        "schema": {"type": "string", "format": "uuid", "enum": [deployment_id]},
    }
    input_names = [input_info(f).name for f in inputs]
    output_names = [output_info(f).name for f in outputs]
    metadata = {
        "name": deployment_id,
        "platform": PLATFORM,
        "inputs": [input_info(f).to_dict() for f in inputs],
        "outputs": [output_info(f).to_dict() for f in outputs],
    }
    tensor_meta = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string", "enum": list(DATATYPES)},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "parameters": {"type": "object"},
        },
        "required": ["name", "datatype", "shape"],
    }
    tensor_list = {"type": "array", "items": {"$ref": "#/components/schemas/oip-tensor-metadata"}}
    schemas: dict[str, Any] = {
        "oip-error": {
            "type": "object",
            "properties": {"error": {"type": "string"}},
            "required": ["error"],
        },
        "oip-tensor-metadata": tensor_meta,
        "oip-model-metadata": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": tensor_list,
                "outputs": tensor_list,
            },
            "required": ["name", "platform", "inputs", "outputs"],
        },
        "oip-infer-request": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "parameters": {
                    "type": "object",
                    "properties": {"binary_data_output": {"type": "boolean"}},
                },
                "inputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "enum": input_names},
                            "datatype": {"type": "string", "enum": list(DATATYPES)},
                            "shape": {
                                "type": "array",
                                "items": {"type": "integer", "minimum": 0},
                                "minItems": 1,
                            },
                            "parameters": {
                                "type": "object",
                                "properties": {
                                    "binary_data_size": {"type": "integer", "minimum": 0}
                                },
                            },
                            "data": {"type": "array", "description": "row-major, flat or nested"},
                        },
                        "required": ["name", "datatype", "shape"],
                    },
                },
                "outputs": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string", "enum": output_names},
                            "parameters": {
                                "type": "object",
                                "properties": {
                                    "binary_data": {"type": "boolean"},
                                    "classification": {"type": "integer", "minimum": 1},
                                },
                            },
                        },
                        "required": ["name"],
                    },
                },
            },
            "required": ["inputs"],
            "example": example_request(inputs),
        },
        "oip-infer-response": {
            "type": "object",
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {
                    "type": "array",
                    "items": {
                        "allOf": [
                            {"$ref": "#/components/schemas/oip-tensor-metadata"},
                            {"type": "object", "properties": {"data": {"type": "array"}}},
                        ]
                    },
                },
            },
            "required": ["model_name", "outputs"],
        },
    }

    def errors(*statuses: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for status in statuses:
            out[status] = {
                "description": _ERRORS[status],
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/oip-error"}}
                },
            }
            if status in ("429", "503"):
                out[status]["headers"] = {
                    "Retry-After": {
                        "description": "Seconds to wait before retrying.",
                        "schema": {"type": "integer"},
                    }
                }
        return out

    def ok(description: str, schema: str, example: Any = None) -> dict[str, Any]:
        content: dict[str, Any] = {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        if example is not None:
            content["example"] = example
        return {"description": description, "content": {"application/json": content}}

    found = {
        MODEL_PATH: {
            "parameters": [name],
            "get": {
                "operationId": "oipModelMetadata",
                "summary": "Open Inference Protocol: model metadata",
                "description": (
                    "Inputs and outputs by the deployment's API names, their datatypes and "
                    "shapes (-1: the batch). A categorical output is FP32 scores [N, k], its "
                    "labels under parameters.labels. An image input is BYTES holding an "
                    "image file, or UINT8 pixels [N, H, W, C]."
                ),
                "responses": {
                    "200": ok("The model's metadata.", "oip-model-metadata", metadata),
                    **errors("401", "403", "404", "500", "503"),
                },
            },
        },
        MODEL_PATH + "/ready": {
            "parameters": [name],
            "get": {
                "operationId": "oipModelReady",
                "summary": "Open Inference Protocol: is the model ready",
                "responses": {
                    "200": {
                        "description": "The model is ready.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **errors("401", "403", "404", "500", "503"),
                },
            },
        },
        MODEL_PATH + "/infer": {
            "parameters": [name],
            "post": {
                "operationId": "oipInfer",
                "summary": "Open Inference Protocol: inference",
                "description": (
                    "Tensors in, tensors out; every input's first dimension is the batch. "
                    "With the binary tensor data extension the body is this JSON, of "
                    "Inference-Header-Content-Length bytes, followed by the raw tensors of "
                    "the inputs that give parameters.binary_data_size; outputs come raw when "
                    "asked (parameters.binary_data, or binary_data_output for all). An output "
                    "asked with parameters.classification k answers its top k as "
                    '"score:index:label". Also at /v2/models/{modelName}/versions/{version}/infer.'
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/oip-infer-request"}
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": (
                            "The requested outputs: JSON, or when any is asked as binary, the "
                            "JSON of Inference-Header-Content-Length bytes then raw tensors."
                        ),
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/oip-infer-response"}
                            },
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            },
                        },
                    },
                    **errors("400", "401", "403", "404", "413", "429", "500", "503", "504"),
                },
            },
        },
    }
    return found, schemas
