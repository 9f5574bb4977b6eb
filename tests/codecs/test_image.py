"""The image codec on its own: limits from the header, and bad bytes as 400s."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from forwardpass.codecs.image import ImageCodec, ImageOptions
from forwardpass.errors import BadData, DataUriError, JsonPropertyTypeMismatch, PayloadTooLarge
from forwardpass.model.signature import Feature, ImageSettings

SETTINGS = ImageSettings(height=6, width=8)
FEATURE = Feature("photo", "image", SETTINGS.shape, "x", image=SETTINGS)


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def uri(data: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(data).decode()}"


def codec(**options: int) -> ImageCodec:
    return ImageCodec(FEATURE, np.dtype(np.float32), ImageOptions(**options))  # type: ignore[arg-type]


def test_every_format_decodes_to_the_model_size() -> None:
    image = Image.new("RGB", (16, 12), (255, 0, 0))
    formats = {
        "PNG": "image/png",
        "JPEG": "image/jpeg",
        "WEBP": "image/webp",
        "BMP": "image/bmp",
        "GIF": "image/gif",
    }
    values = [uri(encoded(image, fmt), media) for fmt, media in formats.items()]
    got = codec().decode(values).reshape(len(values), 6, 8, 3)
    np.testing.assert_allclose(got[..., 0], 1.0, atol=0.02)
    np.testing.assert_allclose(got[..., 1:], 0.0, atol=0.02)


def test_a_144_megapixel_image_is_refused_from_its_header_by_default() -> None:
    data = encoded(Image.new("1", (12_000, 12_000)))  # 144 MP; a few hundred kB as PNG
    started = time.perf_counter()
    with pytest.raises(BadData, match=r"row 1, feature 'photo'.*over the limit"):
        codec().decode([uri(encoded(Image.new("RGB", (8, 6)))), uri(data)])
    assert time.perf_counter() - started < 1.0  # the pixels were never decoded


def test_a_phone_photo_passes_the_default_limits() -> None:
    photo = uri(encoded(Image.new("RGB", (4032, 3024), (0, 0, 255)), "JPEG"), "image/jpeg")
    got = codec().decode([photo]).reshape(6, 8, 3)
    np.testing.assert_allclose(got[..., 2], 1.0, atol=0.02)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (uri(b"hello, not an image"), DataUriError, "not a PNG, JPEG"),
        (uri(encoded(Image.new("RGB", (8, 6))), "text/plain"), DataUriError, "media type"),
        ("data:image/png;base64,@@@@", DataUriError, "base64"),
        ("data:image/png,rawtext", DataUriError, "base64"),
        ("https://example.com/cat.png", DataUriError, "data URI"),
        (b"GIF89a-not-really", DataUriError, "not a PNG, JPEG"),
    ],
)
def test_bad_values_name_the_row_and_feature(value: object, error: type, message: str) -> None:
    good = uri(encoded(Image.new("RGB", (8, 6))))
    with pytest.raises(error, match=rf"row 1, feature 'photo': .*{message}") as raised:
        codec().decode([good, value])
    assert "BytesIO" not in str(raised.value)  # no internals in what the client reads


def test_a_truncated_file_is_a_data_uri_error() -> None:
    data = encoded(
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8))
    )
    with pytest.raises(DataUriError, match="row 0, feature 'photo': the image could not"):
        codec().decode([uri(data[: len(data) // 2])])


def test_limits_per_image_and_per_request() -> None:
    image = uri(encoded(Image.new("RGB", (100, 100))))
    with pytest.raises(BadData, match="bytes"):
        codec(max_bytes=50).decode([image])
    with pytest.raises(PayloadTooLarge, match="30000 pixels in all"):
        codec(max_request_pixels=25_000).decode([image, image, image])


def test_a_value_of_the_wrong_type() -> None:
    with pytest.raises(JsonPropertyTypeMismatch, match="row 0, feature 'photo'"):
        codec().decode([42])


def test_an_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 6), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    got = codec().decode([uri(buffer.getvalue(), "image/gif")]).reshape(6, 8, 3)
    np.testing.assert_allclose(got[..., 0], 1.0, atol=0.02)
    np.testing.assert_allclose(got[..., 2], 0.0, atol=0.02)


def test_a_file_part_is_read_as_bytes_and_a_text_field_as_a_data_uri() -> None:
    data = encoded(Image.new("L", (8, 6), 255))
    image_codec = codec()
    assert image_codec.from_file(data) == data
    assert image_codec.from_form(f" {uri(data)}\n") == uri(data)
    np.testing.assert_allclose(image_codec.decode([data]), 1.0)
