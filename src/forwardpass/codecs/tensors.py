"""A deployment's features as typed tensors (the Open Inference Protocol's view) and back.

`TensorCodec` sits on a deployment's `RowCodec`: each input tensor becomes the column its
feature's codec would have made from rows, through the same codec (categories, ranges,
missing values, image fitting and limits are checked in one place for both APIs), and the
columns become the model's feeds as rows do. The model's outputs are cut per feature as
for rows, and given as tensors: numbers in their own datatype, categorical scores as FP32
`[N, k]` with the labels beside them, text and images as BYTES.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forwardpass.codecs.categorical import CategoricalCodec
from forwardpass.codecs.image import ImageCodec
from forwardpass.codecs.numeric import NumericCodec
from forwardpass.codecs.rows import Field, RowCodec
from forwardpass.errors import BadData, FeatureNotFound, JsonPropertyTypeMismatch, at

#: The protocol's datatypes with a numpy dtype; BYTES is the protocol's string of bytes.
NUMPY_TYPES: dict[str, np.dtype] = {
    name: np.dtype(kind)
    for name, kind in {
        "BOOL": np.bool_,
        "UINT8": np.uint8,
        "UINT16": np.uint16,
        "UINT32": np.uint32,
        "UINT64": np.uint64,
        "INT8": np.int8,
        "INT16": np.int16,
        "INT32": np.int32,
        "INT64": np.int64,
        "FP16": np.float16,
        "FP32": np.float32,
        "FP64": np.float64,
    }.items()
}
BYTES = "BYTES"
DATATYPES = (*NUMPY_TYPES, BYTES)
_NUMBERS = frozenset(name for name in NUMPY_TYPES if name != "BOOL")
_INTEGERS = frozenset(name for name in _NUMBERS if not name.startswith("FP"))
_DATATYPE_OF = {dtype: name for name, dtype in NUMPY_TYPES.items()}


def datatype_of(dtype: np.dtype) -> str:
    """The protocol's datatype of a numpy dtype (object and strings are BYTES)."""
    return _DATATYPE_OF.get(dtype, BYTES)


@dataclass(slots=True)  # not frozen: a frozen init costs 4 times as much, per request
class InputTensor:
    """One input of a request: numbers as an array of `shape`, BYTES as a flat list."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray | Sequence[bytes | str]


@dataclass(slots=True)
class OutputTensor:
    """One output of an answer: numbers as an array of its shape, BYTES as a flat list."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray | list[bytes]


@dataclass(frozen=True)
class TensorInfo:
    """An input or output as the model metadata states it; -1 is the batch dimension."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    labels: tuple[str, ...] | None = None  # a categorical output's, one per score
    feature_type: str = "numeric"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "datatype": self.datatype}
        out["shape"] = list(self.shape)
        if self.labels is not None:
            out["parameters"] = {"labels": list(self.labels)}
        return out


class TensorCodec:
    """A deployment's inputs from tensors and its outputs as tensors."""

    def __init__(self, rows: RowCodec) -> None:
        self.rows = rows
        self.decodes_images = rows.decodes_images
        self._inputs = {f.api_name: f for f in rows.inputs}
        self.inputs = [input_info(f) for f in rows.inputs]
        self.outputs = [output_info(f) for f in rows.outputs]
        self.output_names = [f.api_name for f in rows.outputs]

    def count(self, tensors: Mapping[str, InputTensor]) -> int:
        """The request's examples: the first dimension every input shares."""
        unknown = [name for name in tensors if name not in self._inputs]
        if unknown:
            raise FeatureNotFound(
                at(
                    None,
                    unknown[0],
                    f"not an input of this model; the inputs are {self._listing()}",
                )
            )
        missing = [name for name in self._inputs if name not in tensors]
        if missing:
            raise FeatureNotFound(
                at(None, missing[0], f"missing; the inputs are {self._listing()}")
            )
        counts = {t.shape[0] if t.shape else -1 for t in tensors.values()}
        if len(counts) != 1 or -1 in counts:
            raise BadData(
                "every input needs the batch as its first dimension, the same for all; got "
                + ", ".join(f"{t.name} {list(t.shape)}" for t in tensors.values())
            )
        return counts.pop()

    def decode(self, tensors: Mapping[str, InputTensor], count: int) -> dict[str, np.ndarray]:
        """The model's feeds from a request's input tensors (named by the API names)."""
        columns = {
            name: _column(field, tensors[name], count) for name, field in self._inputs.items()
        }
        return self.rows.assemble(columns, count)

    def encode(
        self, outputs: Mapping[str, np.ndarray], count: int, names: Sequence[str] | None = None
    ) -> dict[str, OutputTensor]:
        """The named outputs (all when None) as tensors."""
        wanted = set(self.output_names if names is None else names)
        return {
            f.api_name: _output(f, array, count)
            for f, array in self.rows.output_columns(outputs, count)
            if f.api_name in wanted
        }

    def classify(
        self, outputs: Mapping[str, np.ndarray], count: int, name: str, k: int
    ) -> OutputTensor:
        """The classification extension: each example's top `k` scores of output `name` as
        "score:index:label" (or "score:index" where the output has no labels)."""
        found = [(f, a) for f, a in self.rows.output_columns(outputs, count) if f.api_name == name]
        if not found:
            raise FeatureNotFound(at(None, name, "not an output of this model"))
        f, array = found[0]
        if f.feature.type not in ("numeric", "categorical", "binary"):
            raise BadData(at(None, name, "classification takes an output of scores"))
        if k < 1:
            raise BadData(at(None, name, f"classification needs a count of 1 or more, got {k}"))
        scores = array.astype(np.float64)  # [count, size], as output_columns cuts it
        k = min(k, scores.shape[1])
        labels = f.codec.labels if isinstance(f.codec, CategoricalCodec) else None
        # A stable sort: equal scores keep the order of their classes.
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        data = [
            (
                f"{scores[row, i]:f}:{i}:{labels[i]}" if labels else f"{scores[row, i]:f}:{i}"
            ).encode()
            for row in range(count)
            for i in top[row].tolist()
        ]
        return OutputTensor(name, BYTES, (count, k), data)

    def _listing(self) -> str:
        return ", ".join(repr(name) for name in self._inputs)


def input_info(f: Field) -> TensorInfo:
    """How the model metadata states an input feature (an image also takes UINT8 pixels)."""
    kind = f.feature.type
    if kind in ("categorical", "text", "image"):
        return TensorInfo(f.api_name, BYTES, (-1, 1), feature_type=kind)
    return TensorInfo(f.api_name, datatype_of(f.codec.dtype), (-1, *f.feature.shape), None, kind)


def output_info(f: Field) -> TensorInfo:
    """How the model metadata states an output feature."""
    kind = f.feature.type
    if isinstance(f.codec, CategoricalCodec):
        labels = tuple(f.codec.labels)
        return TensorInfo(f.api_name, "FP32", (-1, len(labels)), labels, kind)
    if kind in ("text", "image"):
        return TensorInfo(f.api_name, BYTES, (-1, 1), feature_type=kind)
    return TensorInfo(f.api_name, datatype_of(f.codec.dtype), (-1, *f.feature.shape), None, kind)


def _column(f: Field, tensor: InputTensor, count: int) -> np.ndarray:
    """One input's values `[count, size]` in its tensor's dtype, through its feature's codec."""
    feature, codec, datatype, shape = f.feature, f.codec, tensor.datatype, tensor.shape
    name = f.api_name
    single = shape in ((count,), (count, 1))
    if feature.type == "image":
        assert isinstance(codec, ImageCodec)
        if datatype == "UINT8" and len(shape) == 4 and isinstance(tensor.data, np.ndarray):
            return codec.decode_pixels(tensor.data)
        if datatype == BYTES and single and not isinstance(tensor.data, np.ndarray):
            return codec.decode(tensor.data)
        raise JsonPropertyTypeMismatch(
            at(
                None,
                name,
                f"expected BYTES [N] or [N, 1] holding image files, or UINT8 pixels "
                f"[N, H, W, C]; got {datatype} {list(shape)}",
            )
        )
    if feature.type in ("categorical", "text"):
        if datatype == BYTES and not isinstance(tensor.data, np.ndarray):
            data = tensor.data
            if single and isinstance(codec, CategoricalCodec) and data and type(data[0]) is bytes:
                # Binary tensors' bytes looked up as they are: no decoding to text first.
                known = codec.decode_utf8(data)
                if known is not None:
                    return known
            values: list[Any] = _strings(name, tensor.data)
        elif feature.type == "categorical" and datatype in _INTEGERS:
            assert isinstance(tensor.data, np.ndarray)
            values = tensor.data.reshape(-1).tolist()
        else:
            expected = "BYTES or an integer datatype" if feature.type == "categorical" else BYTES
            raise JsonPropertyTypeMismatch(at(None, name, f"expected {expected}, got {datatype}"))
        if not single:
            raise BadData(at(None, name, f"expected shape [{count}, 1], got {list(shape)}"))
        return codec.decode(values)
    allowed = _NUMBERS | {"BOOL"} if feature.type == "binary" else _NUMBERS
    if datatype not in allowed or not isinstance(tensor.data, np.ndarray):
        raise JsonPropertyTypeMismatch(
            at(None, name, f"expected {datatype_of(codec.dtype)}, got {datatype}")
        )
    if shape != (count, *feature.shape) and not (feature.size == 1 and single):
        raise BadData(
            at(None, name, f"expected shape {[count, *feature.shape]}, got {list(shape)}")
        )
    array = tensor.data.reshape(count, feature.size)
    if isinstance(codec, NumericCodec):
        return codec.cast(array)
    return codec.decode(array.reshape(-1).tolist())


def _strings(name: str, values: Sequence[bytes | str]) -> list[str]:
    kinds = set(map(type, values))
    if kinds <= {str}:  # JSON tensors
        return values  # type: ignore[return-value]
    try:
        if kinds == {bytes}:
            # One decode of them all joined, in C; unless an element holds the separator.
            texts = b"\0".join(values).decode().split("\0")  # type: ignore[arg-type]
            if len(texts) == len(values):
                return texts
        return [v.decode() if isinstance(v, bytes) else v for v in values]
    except UnicodeDecodeError:
        raise BadData(at(None, name, "BYTES elements must be UTF-8 text here")) from None


def _output(f: Field, array: np.ndarray, count: int) -> OutputTensor:
    kind, codec = f.feature.type, f.codec
    if isinstance(codec, CategoricalCodec):
        return OutputTensor(
            f.api_name, "FP32", (count, len(codec.labels)), array.astype(np.float32, copy=False)
        )
    if isinstance(codec, ImageCodec):
        return OutputTensor(f.api_name, BYTES, (count, 1), codec.encode_files(array))
    if kind == "text":
        texts = [s.encode() for s in codec.encode(array)]
        return OutputTensor(f.api_name, BYTES, (count, 1), texts)
    shape = (count, *f.feature.shape)
    datatype = datatype_of(array.dtype)
    if datatype == BYTES:  # a numeric feature from a string tensor: numbers as text
        return OutputTensor(f.api_name, BYTES, shape, [str(v).encode() for v in array.reshape(-1)])
    return OutputTensor(f.api_name, datatype, shape, array.reshape(shape))
