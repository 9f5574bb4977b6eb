"""Categorical features.

As input: one of the feature's categories, as a string or an integer (`3` and `"3"` both
name the category 3 or "3"). An unknown category is BadData naming the allowed ones, unless
the model was built to accept unknowns. As output: every class label mapped to its score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from forwardpass.codecs.base import Codec, json_type
from forwardpass.errors import BadData, JsonPropertyTypeMismatch, at
from forwardpass.model.signature import Feature

_LISTED = 12  # categories named in an error message before it says "and N more"


class CategoricalCodec(Codec):
    feature_type = "categorical"

    def __init__(self, feature: Feature, dtype: np.dtype) -> None:
        super().__init__(feature, dtype)
        categories = feature.categories or ()
        self.labels = [str(c) for c in categories]
        self.lookup: dict[Any, Any] = {}
        for c in categories:
            self.lookup[c] = c
            self.lookup[str(c)] = c
            # isascii: '²' passes isdigit() but not int().
            if isinstance(c, str) and c.isascii() and c.lstrip("-").isdigit():
                self.lookup[int(c)] = c
        # String categories into a string tensor: a value that is one of them is its own
        # category, so one membership test per value stands for the type check and the
        # lookup (no int, float or bool equals a string, so none passes it by equality).
        self._as_is = (
            frozenset(categories)
            if dtype.kind == "O" and categories and all(type(c) is str for c in categories)
            else None
        )
        # The same categories as UTF-8 bytes, as binary tensors bring them.
        self._utf8: dict[bytes | str, str] | None = (
            {c.encode(): c for c in self._as_is if isinstance(c, str)}
            if self._as_is is not None
            else None
        )

    def decode_utf8(self, values: Sequence[bytes | str]) -> np.ndarray | None:
        """`decode` for values given as UTF-8 bytes (the protocol's binary BYTES tensors),
        one lookup each when every value is a known string category; None otherwise, and
        the caller decodes them as text, so that `decode` names what is wrong."""
        if self._utf8 is None:
            return None
        try:
            found = list(map(self._utf8.__getitem__, values))
        except (KeyError, TypeError):
            return None
        return np.array(found, dtype=object).reshape(len(values), 1)

    def decode(self, values: Sequence[Any]) -> np.ndarray:
        if self._as_is is not None:
            try:
                known = self._as_is.issuperset(values)
            except TypeError:  # an unhashable value (a list, an object): refused below
                known = False
            if known:
                return np.array(values, dtype=object).reshape(len(values), 1)
        self.mismatch(values, (str, int), "a category (a string or an integer)")
        lookup = self.lookup
        if not self.feature.allow_unknown:
            try:
                decoded = [lookup[v] for v in values]
            except KeyError:
                row = next(i for i, v in enumerate(values) if v not in lookup)
                raise BadData(
                    at(
                        row,
                        self.feature.name,
                        f"unknown category {values[row]!r}; {self.allowed()}",
                    )
                ) from None
        elif self.dtype.kind == "O":
            decoded = [str(lookup.get(v, v)) for v in values]
        else:
            decoded = [lookup.get(v, v) for v in values]
            for row, value in enumerate(decoded):
                if type(value) is not int:
                    raise JsonPropertyTypeMismatch(
                        at(row, self.feature.name, f"expected an integer, got {json_type(value)}")
                    )
        return np.array(decoded, dtype=self.dtype).reshape(len(values), 1)

    def allowed(self) -> str:
        shown = ", ".join(repr(c) for c in self.labels[:_LISTED])
        more = len(self.labels) - _LISTED
        return f"allowed: {shown}" + (f" and {more} more" if more > 0 else "")

    def from_form(self, text: str) -> Any:
        return text

    def encode(self, array: np.ndarray) -> list[Any]:
        labels = self.labels
        return [dict(zip(labels, scores, strict=True)) for scores in array.tolist()]

    def example(self) -> Any:
        return (self.feature.categories or ("",))[0]

    def schema(self) -> dict[str, Any]:
        categories = list(self.feature.categories or ())
        if self.feature.allow_unknown:
            kind = "integer" if self.dtype.kind in "iu" else "string"
            return {"type": kind, "example": self.example()}
        kind = "integer" if all(type(c) is int for c in categories) else "string"
        return {"type": kind, "enum": categories}

    def output_schema(self) -> dict[str, Any]:
        # A score that is not a finite number (the model overflowed) is written as null.
        score = {"type": "number", "nullable": True}
        return {
            "type": "object",
            "description": "every class label mapped to its score",
            "properties": {label: score for label in self.labels},
            "required": list(self.labels),
            "additionalProperties": False,
        }

    def output_example(self) -> Any:
        share = round(1 / max(1, len(self.labels)), 4)
        return dict.fromkeys(self.labels, share)
