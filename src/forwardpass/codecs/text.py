"""Text features: a JSON string in, a JSON string out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from forwardpass.codecs.base import Codec


class TextCodec(Codec):
    feature_type = "text"

    def decode(self, values: Sequence[Any]) -> np.ndarray:
        self.mismatch(values, (str,), "a string")
        return np.array(values, dtype=object).reshape(len(values), 1)

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
