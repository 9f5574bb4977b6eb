"""Each step of imaging.py against a reference written with Pillow and numpy here."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from forwardpass.codecs import imaging
from forwardpass.model.signature import ImageSettings

W, H = 8, 6  # the target: wider than tall


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def scaled(image: Image.Image, width: int, height: int) -> np.ndarray:
    """Pillow's box filter to shrink, bilinear to enlarge, as the docs promise."""
    shrink = width <= image.width and height <= image.height
    method = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(image.resize((width, height), method))


def placed(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """`pixels` centred on a black canvas of width x height, cropped where larger."""
    canvas = np.zeros((height, width, pixels.shape[2]), dtype=np.uint8)
    h, w = pixels.shape[:2]
    top, left = (height - h) // 2, (width - w) // 2
    src = pixels[max(0, -top) : max(0, -top) + min(h, height), max(0, -left) :][:, : min(w, width)]
    canvas[max(0, top) : max(0, top) + src.shape[0], max(0, left) : max(0, left) + src.shape[1]] = (
        src
    )
    return canvas


def reference(image: Image.Image, transformation: str) -> np.ndarray:
    w, h = image.size
    if transformation == "resize":
        return scaled(image, W, H)
    if transformation == "center_crop_or_pad":
        return placed(np.asarray(image), W, H)
    if transformation == "crop_and_resize":
        if w / h > W / H:
            cw, ch = round(h * W / H), h
        else:
            cw, ch = w, round(w * H / W)
        top, left = (h - ch) // 2, (w - cw) // 2
        crop = Image.fromarray(np.asarray(image)[top : top + ch, left : left + cw])
        return scaled(crop, W, H)
    ratio = min(W / w, H / h)
    inner = scaled(image, round(w * ratio), round(h * ratio))
    return placed(inner, W, H)


@pytest.mark.parametrize("transformation", sorted(imaging.TRANSFORMS))
@pytest.mark.parametrize("size", [(20, 10), (7, 30), (4, 3), (12, 9)])
def test_each_transformation_matches_the_reference(
    transformation: str, size: tuple[int, int]
) -> None:
    image = noise(*size)
    got = imaging.TRANSFORMS[transformation](image, W, H)
    assert got.size == (W, H)
    np.testing.assert_array_equal(np.asarray(got), reference(image, transformation))


def test_normalize_applies_exif_orientation_and_flattens_alpha_on_white() -> None:
    pixels = np.zeros((2, 4, 4), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0, 255)  # opaque red top left
    image = Image.fromarray(pixels)  # the rest transparent
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", exif=exif.tobytes())
    upright = imaging.normalize(Image.open(buffer), "RGB")
    assert upright.size == (2, 4)
    got = np.asarray(upright)
    assert tuple(got[0, 1]) == (255, 0, 0)  # top left went to top right
    assert tuple(got[3, 0]) == (255, 255, 255)  # transparency shows white
    gray = imaging.normalize(Image.open(buffer), "L")
    assert gray.mode == "L"


def test_to_array_scales_and_lays_out_and_from_array_inverts_it() -> None:
    image = noise(W, H)
    pixels = np.asarray(image).astype(np.float32)
    settings = ImageSettings(
        height=H, width=W, layout="NCHW", mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5)
    )
    got = imaging.to_array(image, settings, np.dtype(np.float32))
    want = ((pixels / 255 - [0.5, 0.4, 0.3]) / [0.2, 0.25, 0.5]).transpose(2, 0, 1)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert got.dtype == np.float32 and got.shape == (3, H, W)
    back = imaging.from_array(got, settings)
    np.testing.assert_array_equal(np.asarray(back), np.asarray(image))

    raw = ImageSettings(height=H, width=W, scale="raw")
    as_bytes = imaging.to_array(image, raw, np.dtype(np.uint8))
    np.testing.assert_array_equal(as_bytes, np.asarray(image))


def test_sixteen_bit_grayscale_keeps_its_range() -> None:
    wide = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 5000).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(wide).save(buffer, format="PNG")
    got = np.asarray(imaging.normalize(Image.open(buffer), "L"))
    np.testing.assert_array_equal(got, (wide >> 8).astype(np.uint8))


def smooth(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """A photo-like picture: gradients with some noise, and varied alpha for RGBA."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(5)
    bands = [255 * x / width, 255 * y / height, 127 + 100 * np.sin(x / 150 + y / 90)]
    if mode == "RGBA":
        bands.append(255 * (x + y) / (width + height))
    stack = np.stack(bands, axis=-1) + rng.normal(0, 8, (height, width, len(bands)))
    return Image.fromarray(np.clip(stack, 0, 255).astype(np.uint8), mode)


def test_reduce_of_an_alpha_image_by_strips_equals_pillows_whole_reduce() -> None:
    image = smooth(1001, 757, "RGBA")
    got = imaging.reduce(image, 40, 30)  # factor 8: still 3 times the target
    assert got.size == (126, 95)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(image.reduce(8)))
    assert imaging.reduce(image, 400, 300) is image  # less than 2x to spare: left alone


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
@pytest.mark.parametrize("transformation", sorted(set(imaging.TRANSFORMS) - {"center_crop_or_pad"}))
def test_fitting_a_reduced_image_is_close_to_fitting_the_full_one(
    mode: str, transformation: str
) -> None:
    settings = ImageSettings(height=24, width=32)
    image = smooth(1200, 700, mode)
    full = imaging.fit(imaging.normalize(image, "RGB"), settings, transformation)
    reduced = imaging.reduce(image, 32, 24)
    assert reduced.width < image.width / 5
    fast = imaging.fit(imaging.normalize(reduced, "RGB"), settings, transformation)
    difference = np.abs(np.asarray(fast, dtype=int) - np.asarray(full, dtype=int))
    assert difference.mean() < 2 and difference.max() <= 16  # of 255
