"""Binary features: 0 or 1 as input (true and false too), the positive score as output."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from forwardpass.codecs.base import Codec
from forwardpass.errors import BadData, JsonPropertyTypeMismatch, at

_FORM = {"0": 0, "1": 1, "false": 0, "true": 1}


class BinaryCodec(Codec):
    feature_type = "binary"

    def decode(self, values: Sequence[Any]) -> np.ndarray:
        self.mismatch(values, (int, float, bool), "0 or 1")
        array = np.array(values, dtype=np.float64).reshape(len(values), 1)
        bad = (array != 0) & (array != 1)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            raise BadData(at(row, self.feature.name, f"expected 0 or 1, got {values[row]!r}"))
        return array.astype(self.dtype)

    def from_form(self, text: str) -> Any:
        try:
            return _FORM[text.strip().lower()]
        except KeyError:
            raise JsonPropertyTypeMismatch(
                at(None, self.feature.name, f"expected 0 or 1, got {text[:40]!r}")
            ) from None

    def encode(self, array: np.ndarray) -> list[Any]:
        return array.reshape(-1).astype(np.float64).tolist()

    def example(self) -> Any:
        return 1

    def schema(self) -> dict[str, Any]:
        return {"type": "number", "enum": [0, 1]}

    def output_schema(self) -> dict[str, Any]:
        return {"type": "number", "description": "the score of the positive class"}

    def output_example(self) -> Any:
        return 0.9
