"""What the client learns from a deployment's OpenAPI document, read where sidekick reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forwardpass.client.errors import UnexpectedResponse
from forwardpass.codecs import CODECS, Codec
from forwardpass.model.signature import Feature

FORWARD_PATH = "/deployment/{deploymentId}/forward"


@dataclass(frozen=True)
class FeatureSpec:
    """One input or output of a deployment: its API name, type, shape and categories."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    categories: tuple[Any, ...] | None = None
    schema: Any = field(default=None, repr=False, compare=False)

    def codec(self) -> Codec | None:
        """The codec the server decodes this input with, or None for a type without one here."""
        cls = CODECS.get(self.dtype)
        if cls is None or self.dtype == "image":
            return None  # images are checked by the server: the client does not decode them
        json_type = (self.schema or {}).get("type")
        if self.dtype == "categorical":
            ints = self.categories is not None and all(type(c) is int for c in self.categories)
            dtype = np.dtype(np.int64) if ints or json_type == "integer" else np.dtype(object)
        elif self.dtype == "text":
            dtype = np.dtype(object)
        else:
            dtype = np.dtype(np.int64 if json_type == "integer" else np.float64)
        feature = Feature(
            name=self.name,
            type=self.dtype,
            shape=self.shape,
            categories=self.categories,
            allow_unknown=self.dtype == "categorical" and self.categories is None,
            missing=self.dtype == "numeric" and (self.schema or {}).get("nullable") is True,
        )
        return cls(feature, dtype)


@dataclass(frozen=True)
class Spec:
    tensor_json: bool
    inputs: list[FeatureSpec]
    outputs: list[FeatureSpec]


def parse(document: Any) -> Spec:
    """The features of a deployment from its OpenAPI document."""
    try:
        tensor_json = bool(document["paths"][FORWARD_PATH].get("x-peltarion-tensorjson", False))
        schemas = document["components"]["schemas"]
        ins = schemas["input-row"]["properties"]
        outs = schemas["output-row-batch"]["properties"]["rows"]["properties"]
        return Spec(tensor_json, _features(ins), _features(outs))
    except (KeyError, TypeError, AttributeError) as exc:
        raise UnexpectedResponse(
            "UnexpectedSpec", 200, f"the deployment's OpenAPI document lacks {exc}"
        ) from None


def _features(properties: dict[str, Any]) -> list[FeatureSpec]:
    found = []
    for name, schema in properties.items():
        peltarion = schema["x-peltarion"]
        enum = schema.get("enum")
        found.append(
            FeatureSpec(
                name=name,
                dtype=peltarion["type"],
                shape=tuple(peltarion["shape"]),
                categories=tuple(enum) if enum is not None else None,
                schema=schema,
            )
        )
    return found
