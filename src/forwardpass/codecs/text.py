"""Text features: a JSON string in, a JSON string out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forwardpass.codecs.base import Codec
from forwardpass.errors import BadData, at
from forwardpass.model.signature import Feature
from forwardpass.settings import MAX_TEXT_CHARS


@dataclass(frozen=True)
class TextOptions:
    """What serving adds to a model's text inputs: the longest text a row may send, and the
    tokenizers (their JSON, by metadata key) the model file carries for tokenized inputs."""

    max_chars: int = MAX_TEXT_CHARS
    tokenizers: Mapping[str, str] = field(default_factory=dict)


class TextCodec(Codec):
    feature_type = "text"

    def __init__(self, feature: Feature, dtype: np.dtype, options: TextOptions | None = None):
        super().__init__(feature, dtype)
        self.options = options or TextOptions()

    def decode(self, values: Sequence[Any]) -> np.ndarray:
        self.check(values)
        return np.array(values, dtype=object).reshape(len(values), 1)

    def check(self, values: Sequence[Any]) -> None:
        """Raise for the first value that is not a string, or is longer than the limit."""
        self.mismatch(values, (str,), "a string")
        limit = self.options.max_chars
        if max(map(len, values), default=0) > limit:
            row = next(i for i, v in enumerate(values) if len(v) > limit)
            raise BadData(
                at(row, self.feature.name, f"is {len(values[row])} characters; at most {limit}")
            )

    def encode(self, array: np.ndarray) -> list[Any]:
        return [v.decode() if isinstance(v, bytes) else str(v) for v in array.reshape(-1)]

    def example(self) -> Any:
        return "some text"

    def schema(self) -> dict[str, Any]:
        return {"type": "string"}

    def output_schema(self) -> dict[str, Any]:
        return {"type": "string"}

    def output_example(self) -> Any:
        return "some text"
