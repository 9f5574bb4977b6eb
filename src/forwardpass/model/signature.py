"""A model's signature: its input and output features, stored inside the ONNX file.

A feature is what the API speaks of (`Type`, `Size`, `Weight`); a tensor is what the graph
computes on. Each feature names the tensor it maps to. Several features may share one
rank-2 tensor: each then takes its columns in the order the features are listed, which is
how a plain ONNX model with one `[N, 4]` input can still be called with four named numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import onnx

from forwardpass.errors import SignatureError
from forwardpass.model import graph, signature_text

METADATA_KEY = "forwardpass.signature"
TYPES = ("numeric", "categorical", "binary", "text", "image")

#: How an image input is fitted to the model's height and width (see forwardpass.codecs.imaging).
TRANSFORMATIONS = ("resize", "center_crop_or_pad", "crop_and_resize", "pad_and_resize")
_CHANNELS = {"RGB": 3, "L": 1}


@dataclass(frozen=True)
class ImageSettings:
    """How pixels become the tensor an image feature feeds (or how an output becomes pixels).

    `mode` is "RGB" or "L" (grayscale); `layout` "NHWC" or "NCHW". A pixel value p (0..255)
    becomes `(p / 255 - mean) / std` when `scale` is "unit", `(p - mean) / std` when it is
    "raw"; mean and std are one number per channel (default 0 and 1). `transformation` is
    the default way to fit an image to height x width; a deployment can choose another.
    """

    height: int
    width: int
    mode: str = "RGB"
    layout: str = "NHWC"
    scale: str = "unit"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    transformation: str = "resize"

    @property
    def channels(self) -> int:
        return _CHANNELS[self.mode]

    @property
    def shape(self) -> tuple[int, int, int]:
        """The feature's shape as the contract states it: [height, width, channels]."""
        return (self.height, self.width, self.channels)

    @property
    def tensor_shape(self) -> tuple[int, int, int]:
        """The dimensions of one example in the graph's layout."""
        if self.layout == "NCHW":
            return (self.channels, self.height, self.width)
        return self.shape

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "height": self.height,
            "width": self.width,
            "mode": self.mode,
            "layout": self.layout,
            "scale": self.scale,
            "transformation": self.transformation,
        }
        if self.mean is not None:
            out["mean"] = list(self.mean)
        if self.std is not None:
            out["std"] = list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str) -> ImageSettings:
        if not isinstance(data, Mapping):
            raise SignatureError(f"{where}: image settings must be an object")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise SignatureError(f"{where}: unknown image settings {sorted(unknown)}")
        height, width = data.get("height"), data.get("width")
        for name, value in (("height", height), ("width", width)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise SignatureError(f"{where}: image {name} must be a positive integer")
        choices = {
            "mode": tuple(_CHANNELS),
            "layout": ("NHWC", "NCHW"),
            "scale": ("unit", "raw"),
            "transformation": TRANSFORMATIONS,
        }
        for name, allowed in choices.items():
            if name in data and data[name] not in allowed:
                raise SignatureError(f"{where}: image {name} must be one of {', '.join(allowed)}")
        made = cls(
            height=height,  # type: ignore[arg-type]
            width=width,  # type: ignore[arg-type]
            **{k: data[k] for k in choices if k in data},
        )
        per_channel: dict[str, Any] = {}
        for name in ("mean", "std"):
            value = data.get(name)
            if value is None:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = [value] * made.channels
            if (
                not isinstance(value, list | tuple)
                or len(value) != made.channels
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
                or not all(math.isfinite(v) for v in value)
            ):
                raise SignatureError(
                    f"{where}: image {name} must be {made.channels} finite number(s)"
                )
            if name == "std" and 0 in value:
                raise SignatureError(f"{where}: image std must not be 0")
            per_channel[name] = tuple(float(v) for v in value)
        return replace(made, **per_channel)


#: The tensors a tokenizer feeds, by role; input_ids is the one a tokenized feature names.
TOKEN_ROLES = ("input_ids", "attention_mask", "token_type_ids")
#: Where a model file keeps its tokenizer (the `tokenizers` library's JSON) by default.
TOKENIZER_KEY = "forwardpass.tokenizer"


@dataclass(frozen=True)
class TokenizerSettings:
    """How a text input becomes the token tensors of a transformer.

    The tokenizer itself (its `tokenizer.json`) is kept in the model file's metadata under
    `metadata`, not in the signature, which the registry and the spec carry everywhere.
    `tensors` maps each role of `TOKEN_ROLES` the model takes to its graph input; a text is
    cut to `max_length` tokens, and the rows of a batch are padded with `pad_id` to the
    longest of them.
    """

    max_length: int
    tensors: Mapping[str, str]
    pad_id: int = 0
    metadata: str = TOKENIZER_KEY

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_length": self.max_length,
            "tensors": dict(self.tensors),
            "pad_id": self.pad_id,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TokenizerSettings:
        if not isinstance(data, Mapping):
            raise SignatureError(f"{where}: tokenizer settings must be an object")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise SignatureError(f"{where}: unknown tokenizer settings {sorted(unknown)}")
        max_length, pad_id = data.get("max_length"), data.get("pad_id", 0)
        for name, value, least in (("max_length", max_length, 1), ("pad_id", pad_id, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise SignatureError(f"{where}: tokenizer {name} must be an integer >= {least}")
        tensors = data.get("tensors")
        if (
            not isinstance(tensors, Mapping)
            or "input_ids" not in tensors
            or not set(tensors) <= set(TOKEN_ROLES)
            or not all(isinstance(t, str) and t for t in tensors.values())
        ):
            raise SignatureError(
                f"{where}: tokenizer tensors must map input_ids (and optionally "
                "attention_mask, token_type_ids) to graph inputs"
            )
        metadata = data.get("metadata", TOKENIZER_KEY)
        if not isinstance(metadata, str) or not metadata:
            raise SignatureError(f"{where}: tokenizer metadata must be a non-empty string")
        return cls(max_length, dict(tensors), pad_id, metadata)  # type: ignore[arg-type]


#: Which graph element kinds a feature of each type can feed or read.
_COMPATIBLE = {
    "numeric": {"float", "int"},
    "binary": {"float", "int", "bool"},
    "text": {"string"},
    "categorical": {"string", "int", "float"},
    "image": {"float", "int"},
}


@dataclass(frozen=True)
class Feature:
    """One named input or output of a model.

    `categories` holds the allowed values of a categorical input, or the class labels of a
    categorical output (one per score, in the order of the scores). `missing` lets a numeric
    input be `null`, which reaches the model as NaN (for a model that imputes or routes it).
    """

    name: str
    type: str
    shape: tuple[int, ...] = (1,)
    tensor: str = ""
    categories: tuple[str | int, ...] | None = None
    allow_unknown: bool = False
    image: ImageSettings | None = None
    missing: bool = False
    tokenizer: TokenizerSettings | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "shape": list(self.shape),
            "tensor": self.tensor or self.name,
        }
        if self.categories is not None:
            out["categories"] = list(self.categories)
        if self.allow_unknown:
            out["allow_unknown"] = True
        if self.image is not None:
            out["image"] = self.image.to_dict()
        if self.missing:
            out["missing"] = True
        if self.tokenizer is not None:
            out["tokenizer"] = self.tokenizer.to_dict()
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Feature:
        if not isinstance(data, Mapping):
            raise SignatureError(f"{where}: a feature must be an object, got {data!r}")
        known = {
            "name",
            "type",
            "shape",
            "tensor",
            "categories",
            "allow_unknown",
            "image",
            "missing",
            "tokenizer",
        }
        name, kind = data.get("name"), data.get("type", "numeric")
        if not isinstance(name, str) or not name:
            raise SignatureError(f"{where}: every feature needs a non-empty string 'name'")
        if kind not in TYPES:
            raise SignatureError(f"{where} {name!r}: type must be one of {', '.join(TYPES)}")
        image = _image(data, f"{where} {name!r}") if kind == "image" else None
        if "image" in data and kind != "image":
            raise SignatureError(f"{where} {name!r}: only image features take image settings")
        shape = data.get("shape", list(image.shape) if image else [1])
        if (
            not isinstance(shape, list | tuple)
            or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            raise SignatureError(f"{where} {name!r}: shape must be a list of positive integers")
        if image is not None and tuple(shape) != image.shape:
            raise SignatureError(
                f"{where} {name!r}: an image's shape is [height, width, channels], "
                f"{list(image.shape)} by its settings, not {list(shape)}"
            )
        categories = data.get("categories")
        if categories is not None:
            if not isinstance(categories, list | tuple) or not categories:
                raise SignatureError(f"{where} {name!r}: categories must be a non-empty list")
            if not (
                all(isinstance(c, str) for c in categories)
                or all(isinstance(c, int) and not isinstance(c, bool) for c in categories)
            ):
                raise SignatureError(
                    f"{where} {name!r}: categories must be all strings or all integers"
                )
            if len(set(categories)) != len(categories):
                raise SignatureError(f"{where} {name!r}: categories must be distinct")
            categories = tuple(categories)
        elif kind == "categorical":
            raise SignatureError(f"{where} {name!r}: a categorical feature needs 'categories'")
        tensor = data.get("tensor", "")
        if not isinstance(tensor, str):
            raise SignatureError(f"{where} {name!r}: tensor must be a string")
        missing = data.get("missing", False)
        if not isinstance(missing, bool):
            raise SignatureError(f"{where} {name!r}: missing must be true or false")
        if missing and kind != "numeric":
            raise SignatureError(f"{where} {name!r}: only numeric features take missing values")
        tokenizer = None
        if "tokenizer" in data:
            if kind != "text":
                raise SignatureError(f"{where} {name!r}: only text features take a tokenizer")
            tokenizer = TokenizerSettings.from_dict(data["tokenizer"], f"{where} {name!r}")
            if tensor and tensor != tokenizer.tensors["input_ids"]:
                raise SignatureError(
                    f"{where} {name!r}: a tokenized text maps to its input_ids tensor"
                )
            tensor = tokenizer.tensors["input_ids"]
        return cls(
            name=name,
            type=kind,
            shape=tuple(shape),
            tensor=tensor,
            categories=categories,
            allow_unknown=bool(data.get("allow_unknown", False)),
            image=image,
            missing=missing,
            tokenizer=tokenizer,
            extra={k: v for k, v in data.items() if k not in known},
        )


def _image(data: Mapping[str, Any], where: str) -> ImageSettings:
    """An image feature's settings; without any, they follow from a [H, W, C] shape."""
    if "image" in data:
        return ImageSettings.from_dict(data["image"], where)
    shape = data.get("shape")
    if isinstance(shape, list | tuple) and len(shape) == 3 and shape[2] in (1, 3):
        h, w, c = shape
        if all(isinstance(d, int) and d > 0 for d in (h, w)):
            return ImageSettings(height=h, width=w, mode="RGB" if c == 3 else "L")
    raise SignatureError(
        f"{where}: an image feature needs 'image' settings or a shape [height, width, 1 or 3]"
    )


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Feature, ...]
    outputs: tuple[Feature, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [f.to_dict() for f in self.inputs],
            "outputs": [f.to_dict() for f in self.outputs],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        if not isinstance(data, Mapping):
            raise SignatureError("a signature must be an object with 'inputs' and 'outputs'")
        parts = []
        for side in ("inputs", "outputs"):
            items = data.get(side)
            if not isinstance(items, list) or not items:
                raise SignatureError(f"a signature needs a non-empty list of {side}")
            features = tuple(Feature.from_dict(f, side) for f in items)
            names = [f.name for f in features]
            if len(set(names)) != len(names):
                raise SignatureError(f"{side}: feature names must be distinct")
            parts.append(features)
        return cls(parts[0], parts[1])

    @classmethod
    def from_json(cls, text: str) -> Signature:
        return cls.from_dict(signature_text.load(text, json_only=True))

    @classmethod
    def from_text(cls, text: bytes | str, *, json_only: bool = False) -> Signature:
        """A signature from the text of a JSON or YAML file, read within the bounds of
        `forwardpass.model.signature_text`."""
        return cls.from_dict(signature_text.load(text, json_only=json_only))


def read(model: onnx.ModelProto) -> Signature | None:
    """The signature stored in a model's metadata, or None if it has none."""
    for prop in model.metadata_props:
        if prop.key == METADATA_KEY:
            return Signature.from_json(prop.value)
    return None


def write(model: onnx.ModelProto, signature: Signature) -> None:
    """Store `signature` in the model's metadata, replacing any earlier one."""
    for prop in list(model.metadata_props):
        if prop.key == METADATA_KEY:
            model.metadata_props.remove(prop)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, signature.to_json()


def groups(features: Iterable[Feature]) -> dict[str, list[Feature]]:
    """Features by the tensor they map to, in signature order."""
    found: dict[str, list[Feature]] = {}
    for f in features:
        found.setdefault(f.tensor, []).append(f)
    return found


def complete(signature: Signature, model: onnx.ModelProto) -> Signature:
    """Fill in what a hand-written signature may leave out: tensors and shapes.

    A feature without a tensor maps to the tensor of its own name, or to the graph's only
    input (output). A feature alone on a tensor with a fixed shape takes that shape when
    it gave none.
    """
    tensors = (graph.inputs(model), graph.outputs(model))
    sides = []
    for features, available in zip((signature.inputs, signature.outputs), tensors, strict=True):
        done = []
        for f in features:
            tensor = f.tensor
            if not tensor:
                if f.name in available:
                    tensor = f.name
                elif len(available) == 1:
                    tensor = next(iter(available))
                else:
                    tensor = f.name  # validate() names the problem
            done.append(replace(f, tensor=tensor))
        sides.append(tuple(done))
    return Signature(sides[0], sides[1])


def validate(signature: Signature, model: onnx.ModelProto) -> None:
    """Raise SignatureError naming every way the signature does not fit the graph."""
    problems: list[str] = []
    ins, outs = graph.inputs(model), graph.outputs(model)
    for side, features, available in (
        ("input", signature.inputs, ins),
        ("output", signature.outputs, outs),
    ):
        for tensor_name, members in groups(features).items():
            tensor = available.get(tensor_name)
            names = ", ".join(repr(f.name) for f in members)
            if tensor is None:
                problems.append(
                    f"{side} {names} maps to tensor {tensor_name!r}, which the graph does not "
                    f"have as an {side} (it has: {', '.join(available) or 'none'})"
                )
                continue
            for f in members:
                if f.tokenizer is not None:
                    problems.extend(_token_problems(side, f, members, available, model))
                    continue
                if tensor.kind not in _COMPATIBLE[f.type]:
                    problems.append(
                        f"{side} {f.name!r} is {f.type} but tensor {tensor_name!r} holds "
                        f"{tensor.kind} values"
                    )
                if f.type == "categorical" and side == "output":
                    labels = len(f.categories or ())
                    if labels != f.size:
                        problems.append(
                            f"output {f.name!r} has {labels} class labels but shape {list(f.shape)}"
                        )
                if side == "input" and f.type == "categorical":
                    cats = f.categories or ()
                    if tensor.kind == "string" and not all(isinstance(c, str) for c in cats):
                        problems.append(
                            f"input {f.name!r} feeds strings: categories must be strings"
                        )
                    if tensor.kind == "int" and not all(isinstance(c, int) for c in cats):
                        problems.append(
                            f"input {f.name!r} feeds integers: categories must be integers"
                        )
                if f.image is not None:
                    problems.extend(_image_problems(side, f, tensor))
                if f.missing and (side == "output" or tensor.kind != "float"):
                    problems.append(
                        f"{side} {f.name!r} takes missing values, which only an input feeding "
                        f"floats can (NaN); tensor {tensor_name!r} holds {tensor.kind} values"
                    )
            if len(members) > 1 and len(tensor.item_dims) != 1:
                problems.append(
                    f"{side}s {names} share tensor {tensor_name!r}, which is not of rank 2"
                )
            size = tensor.item_size
            total = sum(f.size for f in members)
            if size is not None and size != total and not (size == 1 and total == 1):
                problems.append(
                    f"{side} {names} need {total} values per example but tensor "
                    f"{tensor_name!r} takes {size} ({list(tensor.item_dims)})"
                )
        if side == "input":
            fed = {f.tensor for f in features} | {
                t for f in features if f.tokenizer is not None for t in f.tokenizer.tensors.values()
            }
            missing = set(available) - fed
            problems.extend(
                f"graph input {name!r} is fed by no input feature" for name in sorted(missing)
            )
    if problems:
        raise SignatureError("The signature does not fit the model: " + "; ".join(problems))


def _image_problems(side: str, feature: Feature, tensor: graph.Tensor) -> list[str]:
    """An image feeds (or is read from) a whole tensor laid out as its settings say."""
    image = feature.image
    assert image is not None
    if tensor.kind == "int" and (image.scale != "raw" or image.mean or image.std):
        return [
            f"{side} {feature.name!r} is scaled to fractions but tensor {tensor.name!r} holds "
            "integers: use scale 'raw' without mean and std"
        ]
    dims, want = tensor.item_dims, image.tensor_shape
    if len(dims) == 3 and any(d is not None and d != w for d, w in zip(dims, want, strict=True)):
        return [
            f"{side} {feature.name!r} is a {image.layout} image of "
            f"{list(want)} per example but tensor {tensor.name!r} has {list(dims)}"
        ]
    if len(dims) not in (1, 3):
        return [f"{side} {feature.name!r} is an image but tensor {tensor.name!r} has {list(dims)}"]
    return []


def _token_problems(
    side: str,
    feature: Feature,
    members: list[Feature],
    available: Mapping[str, graph.Tensor],
    model: onnx.ModelProto,
) -> list[str]:
    """A tokenized text feeds integer tensors [batch, sequence] alone, from a tokenizer the
    model file carries."""
    settings = feature.tokenizer
    assert settings is not None
    if side == "output":
        return [f"output {feature.name!r}: only an input can be tokenized"]
    problems = []
    if len(members) > 1:
        problems.append(f"input {feature.name!r} is tokenized and must feed its tensors alone")
    for role, name in settings.tensors.items():
        tensor = available.get(name)
        if tensor is None:
            problems.append(
                f"input {feature.name!r} feeds its {role} to tensor {name!r}, which the graph "
                "does not have as an input"
            )
        elif tensor.kind != "int" or len(tensor.item_dims) != 1:
            problems.append(
                f"input {feature.name!r} feeds its {role} to tensor {name!r}, which must hold "
                f"integers [batch, sequence], not {tensor.kind} {list(tensor.dims)}"
            )
    if not any(p.key == settings.metadata and p.value for p in model.metadata_props):
        problems.append(
            f"input {feature.name!r} is tokenized but the model file carries no tokenizer "
            f"under {settings.metadata!r}"
        )
    return problems


def tokenizers(model: onnx.ModelProto, signature: Signature) -> dict[str, str]:
    """The tokenizers (their JSON) a model file carries for its tokenized inputs, by key."""
    keys = {f.tokenizer.metadata for f in signature.inputs if f.tokenizer is not None}
    return {p.key: p.value for p in model.metadata_props if p.key in keys}
