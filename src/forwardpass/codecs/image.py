"""Images: data URIs (or the bytes of a file part) in, PNG data URIs out.

Decoding a request's images goes in three steps. First, for every row and before any pixel
is decoded, the data URI is parsed and the image's header read: its encoded size, pixel
count and the request's total pixel count are checked against the limits, so that a
decompression bomb costs a header read. Then the images are decoded, fitted and scaled in
a thread pool shared by the process (Pillow releases the GIL while it decodes and resizes),
so a batch of images uses every core. Any failure of Pillow on a client's bytes becomes a
400 naming the row and the feature.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import os
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from forwardpass.codecs import imaging, malloc
from forwardpass.codecs.base import Codec
from forwardpass.errors import (
    BadData,
    DataUriError,
    PayloadTooLarge,
    at,
)
from forwardpass.limits.pixels import PixelBudget
from forwardpass.model.signature import Feature, ImageSettings

#: The media types a data URI may name, and the Pillow formats their bytes may hold.
MEDIA_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp", "image/bmp", "image/gif")
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")


@dataclass(frozen=True)
class ImageOptions:
    """What a deployment adds to the model's image settings: limits and its transformation.

    `transformation` None means the one the model's signature names. `executor` None means
    the process's shared pool. `budget` None means no bound on the pixels decoded at once;
    `owner` is whose share of the budget the images count in (the deployment's id).
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 50_000_000
    max_request_pixels: int = 400_000_000
    transformation: str | None = None
    executor: Executor | None = None
    budget: PixelBudget | None = None
    owner: str = ""


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def shared_pool() -> ThreadPoolExecutor:
    """The process's image pool: one thread per core, made on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=os.cpu_count() or 1, thread_name_prefix="forwardpass-image"
            )
        return _pool


class ImageCodec(Codec):
    feature_type = "image"

    def __init__(
        self, feature: Feature, dtype: np.dtype, options: ImageOptions | None = None
    ) -> None:
        super().__init__(feature, dtype)
        assert feature.image is not None, "an image feature always has image settings"
        self.settings: ImageSettings = feature.image
        self.options = options or ImageOptions()
        self.transformation = self.options.transformation or self.settings.transformation

    # -- input ---------------------------------------------------------------------------

    def decode(self, values: Sequence[Any]) -> np.ndarray:
        self.mismatch(values, (str, bytes), "an image as a data URI")
        opened: list[Image.Image | None] = [self._open(row, v) for row, v in enumerate(values)]
        total = sum(image.width * image.height for image in opened if image is not None)
        if total > self.options.max_request_pixels:
            raise PayloadTooLarge(
                at(
                    None,
                    self.feature.name,
                    f"the images hold {total} pixels in all, over the limit of "
                    f"{self.options.max_request_pixels} a request",
                )
            )
        costs = [self._plan(image) for image in opened if image is not None]
        out = np.empty((len(values), self.feature.size), dtype=self.dtype)
        # Each worker decodes one image at a time: the k largest images are the most
        # that are in memory at once, and k is cut until they fit the deployment's share.
        workers, held = _in_flight(costs, os.cpu_count() or 1, self._share())
        budget = self.options.budget
        try:
            if budget is None:
                self._decode_all(out, opened, workers)
            else:
                with budget.hold(self.options.owner, held):
                    self._decode_all(out, opened, workers)
        finally:
            del opened  # what a failed request had not decoded yet goes too
            malloc.give_back(held)
        return out

    def decode_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Images given as pixels, `[N, H, W, C]` uint8 with 1, 3 or 4 channels (gray, RGB,
        RGBA), fitted as a file's pixels are: the same limits, transformation and scaling."""
        count, height, width, channels = pixels.shape
        if channels not in (1, 3, 4):
            raise BadData(
                at(None, self.feature.name, f"pixels need 1, 3 or 4 channels, got {channels}")
            )
        if not height or not width:
            raise BadData(at(None, self.feature.name, f"an image is {width}x{height} pixels"))
        if height * width > self.options.max_pixels:
            raise BadData(
                at(
                    None,
                    self.feature.name,
                    f"an image is {width}x{height} ({height * width} pixels), over the limit "
                    f"of {self.options.max_pixels} pixels",
                )
            )
        out = np.empty((count, self.feature.size), dtype=self.dtype)
        for row in range(count):
            example = pixels[row, :, :, 0] if channels == 1 else pixels[row]
            out[row] = self._pixels(row, Image.fromarray(np.ascontiguousarray(example)))
        return out

    def _share(self) -> int | None:
        budget = self.options.budget
        return budget.share if budget is not None else None

    def _decode_all(self, out: np.ndarray, opened: list[Image.Image | None], workers: int) -> None:
        pool = self.options.executor or shared_pool()
        # One contiguous run of rows per worker: a handoff per image would cost as much as
        # decoding a small one.
        bounds = np.linspace(0, len(opened), workers + 1).astype(int)
        runs = [range(a, b) for a, b in itertools.pairwise(bounds)]
        if len(runs) <= 1:
            self._fill(out, opened, range(len(opened)))
            return
        futures = [pool.submit(self._fill, out, opened, run) for run in runs[1:]]
        try:
            self._fill(out, opened, runs[0])  # this thread does a share of the work too
        finally:
            errors = [f.exception() for f in futures]
        # The first faulty row raises, as the contract wants.
        for error in errors:
            if error is not None:
                raise error

    def _fill(self, out: np.ndarray, opened: list[Image.Image | None], rows: range) -> None:
        for row in rows:
            image, opened[row] = opened[row], None  # freed once fitted, not at the end
            assert image is not None
            try:
                out[row] = self._pixels(row, image)
            finally:
                image.close()

    def _plan(self, image: Image.Image) -> int:
        """The pixels the image will be decoded to (JPEG: at a reduced scale where it may)."""
        if image.format in ("JPEG", "MPO") and self.transformation != "center_crop_or_pad":
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the image is much larger
            # than the model's: still at least the target size, several times faster.
            image.draft(None, self._target(image))
        return image.width * image.height

    def _target(self, image: Image.Image) -> tuple[int, int]:
        """The model's width and height as seen in the image before EXIF orientation."""
        settings = self.settings
        if image.getexif().get(imaging.ORIENTATION, 1) in (5, 6, 7, 8):  # turned 90 degrees
            return settings.height, settings.width
        return settings.width, settings.height

    def _open(self, row: int, value: str | bytes) -> Image.Image:
        """The image's header, checked against the limits; no pixel is decoded yet."""
        name = self.feature.name
        raw = value if isinstance(value, bytes) else self._data_uri(row, value)
        if len(raw) > self.options.max_bytes:
            raise BadData(
                at(
                    row,
                    name,
                    f"the image is {len(raw)} bytes, over the limit of {self.options.max_bytes}",
                )
            )
        try:
            with warnings.catch_warnings():
                # Our own pixel limit, below, is lower than Pillow's warning threshold.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(io.BytesIO(raw), formats=FORMATS)
        except Image.DecompressionBombError:
            raise BadData(at(row, name, "the image has too many pixels")) from None
        except UnidentifiedImageError:
            # Its own message only names Pillow's in-memory file object.
            raise DataUriError(at(row, name, "not a PNG, JPEG, WebP, BMP or GIF image")) from None
        except Exception as exc:  # Pillow's errors on foreign bytes share no base class
            raise DataUriError(
                at(row, name, f"not a PNG, JPEG, WebP, BMP or GIF image ({exc})")
            ) from None
        pixels = image.width * image.height
        if pixels > self.options.max_pixels:
            raise BadData(
                at(
                    row,
                    name,
                    f"the image is {image.width}x{image.height} ({pixels} pixels), over the "
                    f"limit of {self.options.max_pixels} pixels",
                )
            )
        return image

    def _data_uri(self, row: int, uri: str) -> bytes:
        name = self.feature.name
        head, comma, payload = uri.partition(",")
        if not head.startswith("data:") or not comma:
            raise DataUriError(at(row, name, "expected a data URI, data:image/png;base64,..."))
        media, *params = head[5:].split(";")
        if "base64" not in params:
            raise DataUriError(at(row, name, "the data URI must be base64 (';base64,')"))
        if media.strip().lower() not in MEDIA_TYPES:
            raise DataUriError(
                at(
                    row,
                    name,
                    f"media type {media!r} is not an image this server decodes "
                    f"({', '.join(MEDIA_TYPES)})",
                )
            )
        # base64 is 4 characters for 3 bytes: refuse an oversized image before decoding it.
        if len(payload) * 3 // 4 > self.options.max_bytes + 3:
            raise BadData(
                at(row, name, f"the image is over the limit of {self.options.max_bytes} bytes")
            )
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise DataUriError(at(row, name, "the data URI is not valid base64")) from None

    def _pixels(self, row: int, image: Image.Image) -> np.ndarray:
        """Decode, fit and scale one image (runs in the pool)."""
        settings = self.settings
        try:
            image.load()
            if self.transformation != "center_crop_or_pad":
                image = imaging.reduce(image, *self._target(image))
            upright = imaging.normalize(image, settings.mode)
            del image  # the full-size decode goes as soon as a smaller copy stands for it
            fitted = imaging.fit(upright, settings, self.transformation)
        except Exception as exc:  # a truncated or corrupt file fails only here
            raise DataUriError(
                at(row, self.feature.name, f"the image could not be decoded ({exc})")
            ) from None
        return imaging.to_array(fitted, settings, self.dtype).reshape(-1)

    def from_form(self, text: str) -> Any:
        return text.strip()

    def from_file(self, data: bytes) -> Any:
        return data  # the image file itself; decode() takes bytes as well as data URIs

    # -- output --------------------------------------------------------------------------

    def encode(self, array: np.ndarray) -> list[Any]:
        return [png_data_uri(imaging.from_array(example, self.settings)) for example in array]

    def encode_files(self, array: np.ndarray) -> list[bytes]:
        """Each example as a PNG file (an image output of a tensor request)."""
        return [png_bytes(imaging.from_array(example, self.settings)) for example in array]

    def example(self) -> Any:
        s = self.settings
        return png_data_uri(Image.new(s.mode, (s.width, s.height), 128))

    def schema(self) -> dict[str, Any]:
        s = self.settings
        kinds = "|".join(m.removeprefix("image/") for m in MEDIA_TYPES)
        return {
            "type": "string",
            "format": "data-uri",
            "pattern": f"^data:image/({kinds});base64,",
            "description": (
                f"a PNG, JPEG, WebP, BMP or GIF image as a data URI; fitted to "
                f"{s.width}x{s.height} {s.mode} by the deployment's image transformation"
            ),
        }

    def output_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "data-uri", "pattern": "^data:image/png;base64,"}

    def output_example(self) -> Any:
        return self.example()


def png_data_uri(image: Image.Image) -> str:
    """`data:image/png;base64,...` of an image."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")


def png_bytes(image: Image.Image) -> bytes:
    """The image as a PNG file."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _in_flight(costs: list[int], workers: int, share: int | None) -> tuple[int, int]:
    """How many images to decode at once, and the pixels they may hold together."""
    largest = sorted(costs, reverse=True)[: max(1, workers)]
    count, held = 0, 0
    for pixels in largest:
        if count and share is not None and held + pixels > share:
            break
        count, held = count + 1, held + pixels
    return max(1, count), held


__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "ImageCodec",
    "ImageOptions",
    "png_bytes",
    "png_data_uri",
    "shared_pool",
]
