"""Python values to the contract's JSON values and back, for the client.

Numpy arrays become tensor JSON, numpy scalars plain numbers, PIL images and image files
data URIs of their own format (alpha flattened, as the contract asks); a NaN number (how
pandas marks a missing value) null. Tensor JSON that comes back becomes a numpy array again.
"""

from __future__ import annotations

import base64
import io
import mimetypes
from pathlib import Path
from typing import Any

import numpy as np

from forwardpass.errors import BadData, at

_IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
_FLATTEN = {"RGBA": "RGB", "LA": "L", "PA": "RGB", "P": "RGB"}


def to_json(value: Any, feature_type: str, shape: tuple[int, ...], row: int, name: str) -> Any:
    """The JSON value the contract expects for `value` of a feature of `feature_type`."""
    if feature_type == "image":
        return image_uri(value, row, name)
    if isinstance(value, np.ndarray):
        if value.size == 1 and shape == (1,):
            return value.reshape(-1)[0].item()
        if value.dtype.kind not in "biuf":
            return value.tolist()  # the codec names what is wrong with it
        return {"shape": list(value.shape), "data": value.astype(np.float64).ravel().tolist()}
    if isinstance(value, np.generic):
        value = value.item()
        return None if _is_nan(value, feature_type) else value
    if _is_nan(value, feature_type):
        return None
    if isinstance(value, bool) and feature_type == "binary":
        return int(value)
    return value


def _is_nan(value: Any, feature_type: str) -> bool:
    """NaN, as pandas marks a missing value: the contract's missing value is null."""
    return feature_type == "numeric" and type(value) is float and value != value


def image_uri(value: Any, row: int, name: str) -> Any:
    """A data URI for a PIL image, an image file path, or a uint8 array; URIs pass through."""
    if isinstance(value, str) and value.startswith("data:"):
        return value
    if isinstance(value, str | Path):
        path = Path(value)
        if not path.is_file():
            raise BadData(at(row, name, f"no image file {str(value)[:80]!r}"))
        try:
            from PIL import Image
        except ImportError:  # without Pillow, send the file as it is
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return _uri(mime, path.read_bytes())
        with Image.open(path) as image:
            image.load()
            return _pil_uri(image)
    if isinstance(value, np.ndarray):
        from PIL import Image

        return _pil_uri(Image.fromarray(value))
    if type(value).__module__.startswith("PIL."):
        return _pil_uri(value)
    return value


def _pil_uri(image: Any) -> str:
    fmt = image.format if image.format in _IMAGE_FORMATS else "PNG"
    if image.mode in _FLATTEN:
        image = image.convert("RGBA" if image.mode.startswith("P") else image.mode)
        base = "RGB" if image.mode == "RGBA" else "L"
        from PIL import Image

        flat = Image.new(base, image.size, 255 if base == "L" else (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
        fmt = "PNG" if fmt != "JPEG" else fmt
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return _uri(_IMAGE_FORMATS[fmt], buffer.getvalue())


def _uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def from_json(value: Any, feature_type: str, tensor: bool) -> Any:
    """A JSON output value as Python: tensor JSON becomes a numpy array."""
    if tensor and isinstance(value, dict) and set(value) == {"shape", "data"}:
        return np.array(value["data"], dtype=np.float64).reshape(value["shape"])
    return value
