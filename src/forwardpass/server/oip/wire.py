"""The Open Inference Protocol's inference request and response bodies, JSON and binary.

A request is JSON, or with the binary tensor data extension JSON of
`Inference-Header-Content-Length` bytes followed by the raw tensors, in the order of the
inputs that name their `binary_data_size`. Raw tensors are little-endian, row-major; a
BYTES tensor is each element's length as 4 bytes (little-endian) then its bytes. Every
length a client states is checked against what it sent before anything is allocated.
"""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from forwardpass.codecs.base import json_type
from forwardpass.codecs.tensors import BYTES, DATATYPES, NUMPY_TYPES, InputTensor, OutputTensor
from forwardpass.errors import BadData, JsonParsingError, JsonPropertyTypeMismatch, PayloadTooLarge

_LENGTH = struct.Struct("<I")
_INT, _STR = {int}, {str}
_NONE: dict[str, Any] = {}  # parameters not given; never written to


@dataclass(slots=True)  # not frozen: a frozen init costs 4 times as much, per request
class Requested:
    """An output the request asks for: as raw bytes or JSON, or its top k classes."""

    name: str
    binary: bool
    classification: int | None


@dataclass(slots=True)
class InferRequest:
    id: str | None
    inputs: dict[str, InputTensor]
    outputs: list[Requested] | None  # None: every output
    binary: bool  # the default for outputs: the request's `binary_data_output`


def parse(body: bytes, header_length: str | None, max_rows: int) -> InferRequest:
    """A request body, its header as JSON and its inputs' data checked against their shapes;
    a shape whose first dimension is over `max_rows` is refused before its data is read."""
    raw, rest = body, b""
    if header_length is not None:
        if not header_length.strip().isdigit():
            raise BadData(
                f"Inference-Header-Content-Length must be a number, got {header_length!r}"
            )
        length = int(header_length)
        if length > len(body):
            raise BadData(
                f"Inference-Header-Content-Length {length} is beyond the body's {len(body)} bytes"
            )
        raw, rest = body[:length], body[length:]
    try:
        header = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JsonParsingError(f"the request is not valid JSON: {exc}") from None
    if type(header) is not dict:
        raise BadData('the request must be a JSON object {"inputs": [...]}')
    request_id = header.get("id")
    if "id" in header and type(request_id) is not str:
        raise JsonPropertyTypeMismatch(f'"id" must be a string, got {json_type(request_id)}')
    parameters = _object(header, "parameters", '"parameters"')
    inputs = header.get("inputs")
    if type(inputs) is not list:
        raise JsonPropertyTypeMismatch(f'"inputs" must be a list, got {json_type(inputs)}')
    tensors: dict[str, InputTensor] = {}
    offset = 0
    for item in inputs:
        tensor, used = _input(item, rest, offset, max_rows)
        if tensor.name in tensors:
            raise BadData(f"input {tensor.name!r} is given more than once")
        tensors[tensor.name] = tensor
        offset += used
    if offset != len(rest):
        raise BadData(f"{len(rest) - offset} bytes after the header belong to no input")
    binary = _flag(parameters, "binary_data_output", "the request's")
    outputs = header.get("outputs")
    requested = None
    if "outputs" in header:
        if type(outputs) is not list:
            raise JsonPropertyTypeMismatch(f'"outputs" must be a list, got {json_type(outputs)}')
        requested = [_requested(item, binary) for item in outputs]
    return InferRequest(request_id, tensors, requested, binary)


def _object(container: dict[str, Any], key: str, what: str, name: str = "") -> dict[str, Any]:
    """`container[key]`, an object; an empty one when it is not there (null is not an
    object). `what` names it in the error, with `name` in place of {}: formatted only then,
    as this runs for every input of every request."""
    value = container.get(key, _NONE)
    if type(value) is not dict:
        shown = what.format(repr(name))
        raise JsonPropertyTypeMismatch(f"{shown} must be an object, got {json_type(value)}")
    return value


def _flag(parameters: dict[str, Any], key: str, whose: str, default: bool = False) -> bool:
    value = parameters.get(key, default)
    if type(value) is not bool:
        raise JsonPropertyTypeMismatch(f"{whose} {key} must be true or false")
    return value


def _requested(item: Any, binary: bool) -> Requested:
    if type(item) is not dict or type(item.get("name")) is not str:
        raise JsonPropertyTypeMismatch('each of "outputs" must be an object with a "name"')
    name = item["name"]
    parameters = _object(item, "parameters", "the parameters of output {}", name)
    classification = parameters.get("classification")
    if "classification" in parameters and (type(classification) is not int or classification < 1):
        raise BadData(f"output {name!r}: classification must be a whole number of 1 or more")
    binary = _flag(parameters, "binary_data", f"output {name!r}:", binary)
    return Requested(name, binary, classification)


def _input(item: Any, rest: bytes, offset: int, max_rows: int) -> tuple[InputTensor, int]:
    """One input tensor, and how many bytes of the binary part it took."""
    if type(item) is not dict:
        raise JsonPropertyTypeMismatch(f"each input must be an object, got {json_type(item)}")
    name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
    if type(name) is not str:
        raise JsonPropertyTypeMismatch('each input needs a "name" string')
    if datatype not in DATATYPES:
        raise JsonPropertyTypeMismatch(
            f"input {name!r}: datatype must be one of {', '.join(DATATYPES)}, got {datatype!r}"
        )
    # One pass in C: no bool (a subclass of int) passes the set, nor a negative the min.
    if type(shape) is not list or not shape or set(map(type, shape)) != _INT or min(shape) < 0:
        raise BadData(f"input {name!r}: shape must be a list of whole numbers, batch first")
    if shape[0] > max_rows:
        raise PayloadTooLarge(
            f"input {name!r}: {shape[0]} rows is over the limit of {max_rows} rows a request"
        )
    parameters = _object(item, "parameters", "the parameters of input {}", name)
    size = parameters.get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0:
            raise BadData(f"input {name!r}: binary_data_size must be a whole number")
        if "data" in item:
            raise BadData(f"input {name!r}: give its data as JSON or as binary, not both")
        if offset + size > len(rest):
            raise BadData(
                f"input {name!r}: its binary_data_size {size} goes beyond the end of the body"
            )
        chunk = rest[offset : offset + size]
        data = _raw(name, datatype, chunk, shape)
        return InputTensor(name, datatype, tuple(shape), data), size
    if "data" not in item:
        raise BadData(f'input {name!r} has no "data" and no binary_data_size')
    return InputTensor(name, datatype, tuple(shape), _json(name, datatype, item["data"], shape)), 0


def _raw(name: str, datatype: str, chunk: bytes, shape: list[int]) -> Any:
    elements = math.prod(shape)
    if datatype == BYTES:
        values: list[bytes] = []
        append, unpack, end, at = values.append, _LENGTH.unpack_from, len(chunk), 0
        # Lean, as it runs once per element: a cut-off length fails in unpack_from, and an
        # element past the end leaves `at` beyond it once the loop is over (it only grows).
        try:
            while at < end:
                start = at + 4
                at = start + unpack(chunk, at)[0]
                append(chunk[start:at])
        except struct.error:
            raise BadData(f"input {name!r}: a BYTES element's length is cut off") from None
        if at > end:
            raise BadData(f"input {name!r}: a BYTES element goes beyond its data")
        if len(values) != elements:
            raise BadData(
                f"input {name!r}: its shape holds {elements} elements, its data {len(values)}"
            )
        return values
    dtype = NUMPY_TYPES[datatype]
    if len(chunk) != elements * dtype.itemsize:
        raise BadData(
            f"input {name!r}: its shape holds {elements} {datatype} elements "
            f"({elements * dtype.itemsize} bytes), its data is {len(chunk)} bytes"
        )
    if datatype == "BOOL":
        return (np.frombuffer(chunk, np.uint8) != 0).reshape(shape)
    return np.frombuffer(chunk, dtype.newbyteorder("<")).reshape(shape)


def _json(name: str, datatype: str, data: Any, shape: list[int]) -> Any:
    elements = math.prod(shape)
    if type(data) is not list:
        raise JsonPropertyTypeMismatch(f"input {name!r}: data must be a list")
    if datatype == BYTES:
        kinds = set(map(type, data))
        flat = data
        if list in kinds:
            flat = _flatten(data)
            kinds = set(map(type, flat))
        if not kinds <= _STR:
            raise JsonPropertyTypeMismatch(f"input {name!r}: BYTES data must hold strings")
        if len(flat) != elements:
            raise BadData(
                f"input {name!r}: its shape holds {elements} elements, its data {len(flat)}"
            )
        return flat
    try:
        array = np.array(data)
    except ValueError:
        raise BadData(f"input {name!r}: data must be a flat or regular nested list") from None
    wanted = "b" if datatype == "BOOL" else "biuf"
    # "1" and null would pass numpy's conversion to a number; the protocol says numbers.
    if array.dtype.kind not in wanted or (datatype != "BOOL" and array.dtype.kind == "b"):
        raise JsonPropertyTypeMismatch(f"input {name!r}: {datatype} data must hold numbers")
    if array.size != elements:
        raise BadData(f"input {name!r}: its shape holds {elements} elements, its data {array.size}")
    dtype = NUMPY_TYPES[datatype]
    if dtype.kind in "iu" and array.size:
        if array.dtype.kind == "f" and not (array == np.round(array)).all():
            raise BadData(f"input {name!r}: {datatype} data must hold whole numbers")
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise BadData(f"input {name!r}: a value is out of range for {datatype}")
    return array.astype(dtype, copy=False).reshape(shape)


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for v in data:
        flat.extend(_flatten(v) if type(v) is list else [v])
    return flat


def render(
    request_id: str | None,
    model_name: str,
    model_version: str,
    outputs: list[tuple[OutputTensor, bool]],
) -> tuple[bytes, int | None]:
    """The response body, and the length of its JSON part when raw tensors follow it."""
    described: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for tensor, binary in outputs:
        out: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        if binary:
            chunk = _raw_bytes(tensor)
            out["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            out["data"] = _json_data(tensor)
        described.append(out)
    body: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request_id is not None:
        body["id"] = request_id
    body["outputs"] = described
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _raw_bytes(tensor: OutputTensor) -> bytes:
    if isinstance(tensor.data, np.ndarray):
        array = tensor.data
        if array.dtype == np.bool_:
            return array.astype(np.uint8).tobytes()
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return b"".join(_LENGTH.pack(len(v)) + v for v in tensor.data)


def _json_data(tensor: OutputTensor) -> Any:
    if isinstance(tensor.data, np.ndarray):
        return tensor.data.reshape(-1)
    # JSON holds text: an element that is not UTF-8 (an image file) is given as base64.
    texts = []
    for value in tensor.data:
        try:
            texts.append(value.decode())
        except UnicodeDecodeError:
            texts.append(base64.b64encode(value).decode("ascii"))
    return texts
