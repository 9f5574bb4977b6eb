"""Numbers and tensors.

A scalar is a JSON number. A tensor is tensor JSON `{"shape": [..], "data": [..]}`, a nested
list, or the legacy data URI `data:application/x.peltarion.npy;base64,<.npy bytes>`.
Outputs of shape [1] are numbers, any other shape tensor JSON.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from forwardpass.codecs.base import Codec, json_type
from forwardpass.errors import BadData, DataUriError, JsonPropertyTypeMismatch, at
from forwardpass.model.signature import Feature

NPY_URI_PREFIX = "data:application/x.peltarion.npy;base64,"
_NUMBER = (int, float)
_NUMBER_TYPES = frozenset(_NUMBER)


class NumericCodec(Codec):
    feature_type = "numeric"

    def __init__(self, feature: Feature, dtype: np.dtype) -> None:
        super().__init__(feature, dtype)
        # The largest magnitude the tensor's float dtype holds; JSON numbers are finite
        # (orjson refuses NaN and overflow), so a comparison is the whole range check.
        self._float_max = float(np.finfo(dtype).max) if dtype.kind == "f" else None
        # Only a feature declared `missing` feeds NaN; the signature allows it on floats only.
        self._missing = feature.missing and dtype.kind == "f"
        self._items = _NUMBER_TYPES | {type(None)} if self._missing else _NUMBER_TYPES

    def decode(self, values: Sequence[Any]) -> np.ndarray:
        if self.feature.size == 1 and set(map(type, values)) <= _NUMBER_TYPES:
            top = self._float_max
            if top is not None:
                # Numbers straight into the tensor's dtype: in Python, the check costs less
                # than the float64 array, its ufuncs and the cast of the general way.
                if not values or (-top <= min(values) and max(values) <= top):
                    return np.array(values, dtype=self.dtype).reshape(len(values), 1)
                row = next(i for i, v in enumerate(values) if not -top <= v <= top)
                raise self._out_of_range(row)
            array = np.array(values, dtype=np.float64).reshape(len(values), 1)
        else:
            array = np.empty((len(values), self.feature.size), dtype=np.float64)
            for row, value in enumerate(values):
                array[row] = self._one(row, value)
        return self.cast(array)

    def cast(self, array: np.ndarray) -> np.ndarray:
        """Convert to the tensor's dtype, refusing values the dtype cannot hold."""
        if self.dtype.kind == "f":
            # One comparison refuses NaN, infinities and values beyond the dtype's range (which
            # the cast would turn into infinity or round down to its max, against the spec).
            fits = np.abs(array) <= self._float_max
            if self._missing:
                fits |= np.isnan(array)
            if not fits.all():
                row = int(np.argwhere(~fits)[0][0])
                raise self._out_of_range(row)
            return array.astype(self.dtype)
        if self.dtype.kind in "iub":
            if not (array == np.round(array)).all():
                row = int(np.argwhere(array != np.round(array))[0][0])
                raise BadData(at(row, self.feature.name, "expected a whole number"))
            info = np.iinfo(self.dtype) if self.dtype.kind != "b" else None
            if info is not None and ((array < info.min) | (array > info.max)).any():
                row = int(np.argwhere((array < info.min) | (array > info.max))[0][0])
                raise self._out_of_range(row)
            return array.astype(self.dtype)
        return array.astype(self.dtype)

    def _out_of_range(self, row: int) -> BadData:
        return BadData(at(row, self.feature.name, f"a value is out of range for {self.dtype.name}"))

    def _one(self, row: int, value: Any) -> np.ndarray:
        name, shape = self.feature.name, self.feature.shape
        if type(value) in _NUMBER and self.feature.size == 1:
            return np.array([value], dtype=np.float64)
        if value is None and self._missing:
            return np.full(self.feature.size, np.nan)
        if type(value) is dict:
            if set(value) != {"shape", "data"}:
                raise BadData(
                    at(row, name, 'tensor JSON must be an object with "shape" and "data"')
                )
            tensor_shape, data = value["shape"], value["data"]
            if type(tensor_shape) is not list or type(data) is not list:
                raise JsonPropertyTypeMismatch(
                    at(row, name, 'tensor JSON needs "shape" and "data" as lists')
                )
            if tuple(tensor_shape) != shape:
                raise BadData(at(row, name, f"expected shape {list(shape)}, got {tensor_shape}"))
            return self._numbers(row, data)
        if type(value) is list:
            # As objects first: numpy would read true, false and "1" as numbers.
            items = np.array(value, dtype=object)
            if not set(map(type, items.ravel())) <= self._items:
                raise JsonPropertyTypeMismatch(
                    at(row, name, "a nested list must hold numbers in a regular shape")
                )
            array = np.array(items, dtype=np.float64)  # None becomes NaN
            if array.shape != shape and array.shape != (self.feature.size,):
                raise BadData(
                    at(row, name, f"expected shape {list(shape)}, got {list(array.shape)}")
                )
            return array.reshape(-1)
        if type(value) is str and value.startswith("data:"):
            return self._npy(row, value)
        expected = "a number" if self.feature.size == 1 else f"a tensor of shape {list(shape)}"
        raise JsonPropertyTypeMismatch(
            at(row, name, f"expected {expected}, got {json_type(value)}")
        )

    def _numbers(self, row: int, data: list[Any]) -> np.ndarray:
        if len(data) != self.feature.size:
            raise BadData(
                at(row, self.feature.name, f"expected {self.feature.size} values, got {len(data)}")
            )
        if not set(map(type, data)) <= self._items:
            raise JsonPropertyTypeMismatch(at(row, self.feature.name, "data must hold numbers"))
        return np.array(data, dtype=np.float64)  # None becomes NaN

    def _npy(self, row: int, uri: str) -> np.ndarray:
        name = self.feature.name
        if not uri.startswith(NPY_URI_PREFIX):
            raise DataUriError(
                at(row, name, f"a tensor data URI must start with {NPY_URI_PREFIX!r}")
            )
        try:
            raw = base64.b64decode(uri[len(NPY_URI_PREFIX) :], validate=True)
        except binascii.Error as exc:
            raise DataUriError(at(row, name, f"not a base64 .npy file ({exc})")) from None
        stream = io.BytesIO(raw)
        shape, dtype = _npy_header(stream, at(row, name, "not a .npy file"))
        if dtype.kind not in "biuf":
            raise DataUriError(at(row, name, f"the .npy array holds {dtype}, not numbers"))
        # Checked before numpy reads the data: a header may claim any number of elements.
        if shape != self.feature.shape:
            raise BadData(
                at(row, name, f"expected shape {list(self.feature.shape)}, got {list(shape)}")
            )
        stream.seek(0)
        try:
            array = np.load(stream, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataUriError(at(row, name, f"not a .npy file ({exc})")) from None
        flat: np.ndarray = array.astype(np.float64).reshape(-1)
        return flat

    def from_form(self, text: str) -> Any:
        stripped = text.strip()
        if not stripped and self._missing:
            return None
        if self.feature.size == 1:
            try:
                number = float(stripped)
            except ValueError:
                raise JsonPropertyTypeMismatch(
                    at(None, self.feature.name, f"expected a number, got {text[:40]!r}")
                ) from None
            if math.isnan(number) and self._missing:
                return None
            if not math.isfinite(number):
                raise BadData(at(None, self.feature.name, "the number must be finite"))
            return number
        if stripped.startswith("data:"):
            return stripped
        try:
            return orjson.loads(stripped)
        except orjson.JSONDecodeError:
            raise JsonPropertyTypeMismatch(
                at(None, self.feature.name, "expected tensor JSON, a nested list or a data URI")
            ) from None

    def encode(self, array: np.ndarray) -> list[Any]:
        if self.feature.size == 1:
            return array.reshape(-1).tolist()
        shape = list(self.feature.shape)
        return [{"shape": shape, "data": data} for data in array.tolist()]

    def example(self) -> Any:
        one, zero = (1, 0) if self.dtype.kind in "iu" else (1.0, 0.0)
        if self.feature.size == 1:
            return one
        return {"shape": list(self.feature.shape), "data": [zero] * self.feature.size}

    def schema(self) -> dict[str, Any]:
        number: dict[str, Any] = {"type": "integer" if self.dtype.kind in "iu" else "number"}
        # The range the tensor's dtype holds: `cast` refuses a value outside it.
        if self.dtype.kind == "f" and self.dtype.itemsize < 8:
            limit = float(np.finfo(self.dtype).max)
            number.update(minimum=-limit, maximum=limit)
        elif self.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            number.update(minimum=int(info.min), maximum=int(info.max))
        if self._missing:
            number["nullable"] = True  # null is a missing value, NaN to the model
        if self.feature.size == 1:
            return number
        out = self._tensor_schema(number)
        out["description"] = (
            "tensor JSON; a nested list of the shape, or a data URI "
            f"{NPY_URI_PREFIX}<.npy bytes> are accepted too"
        )
        if self._missing:
            out["nullable"] = True
        return out

    def output_schema(self) -> dict[str, Any]:
        # orjson writes a non-finite float as null: say so rather than promise a number.
        number = {"type": "number", "nullable": True}
        if self.feature.size == 1:
            return number
        return self._tensor_schema(number)

    def output_example(self) -> Any:
        return self.example()

    def _tensor_schema(self, number: dict[str, Any]) -> dict[str, Any]:
        shape, size = list(self.feature.shape), self.feature.size
        return {
            "type": "object",
            "properties": {
                "shape": {"type": "array", "items": {"type": "integer"}, "enum": [shape]},
                "data": {"type": "array", "items": number, "minItems": size, "maxItems": size},
            },
            "required": ["shape", "data"],
            "additionalProperties": False,
        }


def _npy_header(stream: io.BytesIO, fault: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype a .npy header claims, read without allocating the array."""
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"version {version[0]}.{version[1]} is not read here")
    # numpy parses the header as a Python literal, and passes on what that raises
    # (SyntaxError, tokenize.TokenError, ...): any of them means a malformed header.
    except Exception as exc:
        raise DataUriError(f"{fault} ({type(exc).__name__}: {exc})"[:300]) from None
    return tuple(shape), dtype
