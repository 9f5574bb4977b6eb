"""Pixels to tensors and back: the four transformations, scaling and layout.

Each function takes and returns plain Pillow images or numpy arrays, so that each step can be
checked on its own against a reference. The codec (`codecs/image.py`) chains them:
`normalize` (EXIF orientation, alpha, colour mode), `fit` (one of the transformations),
`to_array` (scale and layout); `from_array` goes the other way for image outputs.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from forwardpass.model.signature import ImageSettings

#: Shrinking averages the area each new pixel covers (box); enlarging is bilinear.
SHRINK = Image.Resampling.BOX
ENLARGE = Image.Resampling.BILINEAR
#: What padding and flattened alpha become: black pads, transparency shows white
#: (as a browser shows a transparent picture on a white page).
PAD = 0
BACKGROUND = 255
ORIENTATION = 0x0112  # the EXIF tag


def normalize(image: Image.Image, mode: str) -> Image.Image:
    """Upright, without alpha, in `mode` ("RGB" or "L")."""
    if image.getexif().get(ORIENTATION, 1) != 1:  # exif_transpose would copy even when upright
        image = ImageOps.exif_transpose(image)
    if image.mode == "I" or image.mode.startswith("I;16"):
        # 16-bit grayscale (PNG): keep the high byte instead of clipping at 255.
        wide = np.asarray(image, dtype=np.uint32) >> 8
        image = Image.fromarray(np.clip(wide, 0, 255).astype(np.uint8))
    image = unpalette(image)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (BACKGROUND,) * 3 + (255,))
        image = Image.alpha_composite(flat, rgba)
    if image.mode != mode:
        image = image.convert(mode)
    return image


#: Shrink by whole factors first only while the image stays this many times the target:
#: at 3 Pillow finds the result indistinguishable from resampling the full image.
REDUCING_GAP = 3


def reduce(image: Image.Image, width: int, height: int) -> Image.Image:
    """The image shrunk by a whole factor (box averages) while still REDUCING_GAP times
    width x height or more, else itself.

    A 7000x7000 PNG fitted to 224x224 is then normalized and fitted at 700x700: its
    conversions copy 1% of the pixels instead of all of them. A palette image is converted
    first (averaging palette indices means nothing).
    """
    factor = int(min(image.width / width, image.height / height) / REDUCING_GAP)
    if factor < 2:
        return image
    image = unpalette(image)
    if image.mode not in ("LA", "RGBA"):
        return image.reduce(factor) if image.mode in _REDUCIBLE else image
    # Pillow reduces alpha images through a premultiplied copy of the whole image; strip by
    # strip (whole blocks of `factor` rows, so the same averages) that copy is one strip.
    width, height = image.size
    out = Image.new(image.mode, (-(-width // factor), -(-height // factor)))
    rows = factor * max(1, STRIP_PIXELS // (factor * width))
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        out.paste(strip.reduce(factor), (0, top // factor))
    return out


_REDUCIBLE = ("L", "RGB", "RGBX", "CMYK", "YCbCr")
#: About how many pixels one strip of an alpha image holds while it is reduced.
STRIP_PIXELS = 1 << 20


def unpalette(image: Image.Image) -> Image.Image:
    """A palette image as RGB, or RGBA if it has transparency; any other as it is."""
    if image.mode not in ("P", "PA"):
        return image
    return image.convert("RGBA" if "transparency" in image.info or image.mode == "PA" else "RGB")


def scale(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to width x height with the filter that fits the direction."""
    shrinking = width <= image.width and height <= image.height
    return image.resize((width, height), SHRINK if shrinking else ENLARGE)


def resize(image: Image.Image, width: int, height: int) -> Image.Image:
    """Stretch to width x height."""
    return scale(image, width, height)


def center_crop_or_pad(image: Image.Image, width: int, height: int) -> Image.Image:
    """Crop or pad around the centre to width x height, without scaling."""
    canvas = Image.new(image.mode, (width, height), PAD)
    # Negative offsets crop, positive ones pad; both keep the centres together.
    canvas.paste(image, ((width - image.width) // 2, (height - image.height) // 2))
    return canvas


def crop_and_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    """Crop the largest centred region of the target's aspect ratio, then scale it."""
    w, h = image.size
    if w * height > h * width:  # wider than the target: keep the full height
        cw, ch = max(1, round(h * width / height)), h
    else:
        cw, ch = w, max(1, round(w * height / width))
    left, top = (w - cw) // 2, (h - ch) // 2
    return scale(image.crop((left, top, left + cw, top + ch)), width, height)


def pad_and_resize(image: Image.Image, width: int, height: int) -> Image.Image:
    """Letterbox: scale to fit inside width x height keeping the aspect, pad the rest."""
    w, h = image.size
    ratio = min(width / w, height / h)
    sw, sh = max(1, round(w * ratio)), max(1, round(h * ratio))
    return center_crop_or_pad(scale(image, sw, sh), width, height)


TRANSFORMS = {
    "resize": resize,
    "center_crop_or_pad": center_crop_or_pad,
    "crop_and_resize": crop_and_resize,
    "pad_and_resize": pad_and_resize,
}


def fit(image: Image.Image, settings: ImageSettings, transformation: str) -> Image.Image:
    """The image at the model's width and height by the named transformation."""
    if image.size == (settings.width, settings.height):
        return image
    return TRANSFORMS[transformation](image, settings.width, settings.height)


def _mean_std(settings: ImageSettings) -> tuple[np.ndarray, np.ndarray]:
    mean = np.array(settings.mean or (0.0,) * settings.channels, dtype=np.float32)
    std = np.array(settings.std or (1.0,) * settings.channels, dtype=np.float32)
    return mean, std


def to_array(image: Image.Image, settings: ImageSettings, dtype: np.dtype) -> np.ndarray:
    """One example in the graph's layout and dtype, scaled as the settings say."""
    pixels = np.asarray(image, dtype=np.uint8).reshape(settings.shape)
    if dtype.kind in "iu" and settings.scale == "raw" and not (settings.mean or settings.std):
        values: np.ndarray = pixels  # integer models take the pixels as they are
    else:
        values = pixels.astype(np.float32)
        if settings.scale == "unit":
            values /= 255.0
        mean, std = _mean_std(settings)
        if settings.mean or settings.std:
            values = (values - mean) / std
    if settings.layout == "NCHW":
        values = values.transpose(2, 0, 1)
    return np.ascontiguousarray(values, dtype=dtype)


def from_array(values: np.ndarray, settings: ImageSettings) -> Image.Image:
    """The pixels one example of an image output stands for (the inverse of to_array)."""
    array = np.asarray(values, dtype=np.float32).reshape(settings.tensor_shape)
    if settings.layout == "NCHW":
        array = array.transpose(1, 2, 0)
    mean, std = _mean_std(settings)
    array = array * std + mean
    if settings.scale == "unit":
        array = array * 255.0
    pixels = np.clip(np.rint(np.nan_to_num(array)), 0, 255).astype(np.uint8)
    if settings.mode == "L":
        return Image.fromarray(pixels[:, :, 0])  # 2-D uint8: mode L
    return Image.fromarray(pixels)  # H x W x 3 uint8: mode RGB
