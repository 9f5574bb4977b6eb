"""What every codec does: turn one feature's JSON values into a numpy column, and back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from forwardpass.errors import BadData, ForwardpassError, JsonPropertyTypeMismatch, at
from forwardpass.model.signature import Feature

_JSON_TYPES = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


class Codec:
    """Decodes the values of one input feature and encodes the values of one output.

    `decode` takes the feature's value from every row of a request and returns an array of
    shape `[rows, feature.size]` in the dtype of the tensor it feeds; `encode` takes an array
    `[rows, feature.size]` and returns one JSON value per row. `from_form` reads the text of a
    form field (multipart or urlencoded) as the JSON value it stands for.
    """

    feature_type: ClassVar[str]

    def __init__(self, feature: Feature, dtype: np.dtype) -> None:
        self.feature = feature
        self.dtype = dtype

    def decode(self, values: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, array: np.ndarray) -> list[Any]:
        raise NotImplementedError

    def from_form(self, text: str) -> Any:
        return text

    def from_file(self, data: bytes) -> Any:
        """The value a file part of a multipart form stands for: its text, for most types."""
        try:
            return self.from_form(data.decode())
        except UnicodeDecodeError:
            raise BadData(at(None, self.feature.name, "a file part must be text here")) from None

    def example(self) -> Any:
        """A valid input value, for documentation and generated examples."""
        raise NotImplementedError

    def shown_example(self) -> Any:
        """The example the spec and the deployment view show: the model's own (an MLflow
        input example, kept in the signature as `example`) when it decodes, else `example`."""
        given = self.feature.extra.get("example")
        if given is not None:
            try:
                self.decode([given])
            except ForwardpassError:
                return self.example()
            return given
        return self.example()

    def schema(self) -> dict[str, Any]:
        """JSON Schema (OpenAPI 3.0 dialect) of an input value that `decode` accepts."""
        raise NotImplementedError

    def output_schema(self) -> dict[str, Any]:
        """JSON Schema (OpenAPI 3.0 dialect) of an output value that `encode` returns."""
        raise NotImplementedError

    def output_example(self) -> Any:
        """An output value of the right form, for documentation and generated examples."""
        raise NotImplementedError

    def mismatch(self, values: Sequence[Any], allowed: tuple[type, ...], expected: str) -> None:
        """Raise JsonPropertyTypeMismatch at the first value whose type is not allowed."""
        if set(map(type, values)) <= set(allowed):
            return
        for row, value in enumerate(values):
            if type(value) not in allowed:
                raise JsonPropertyTypeMismatch(
                    at(row, self.feature.name, f"expected {expected}, got {json_type(value)}")
                )
