"""Digits rendered in the fonts of this machine, varied as a digit on paper varies.

The image demo's training data: each digit drawn in each font (three stroke widths), then
placed at a random size, angle, slant, width and offset, blurred, on paper of a random grey with
uneven light and noise, dark ink of a random grey. `SIZE` x `SIZE` pixels, grey levels
0..1 as the server reads a picture (0 black, 1 white).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

#: Where fonts are installed on Linux, system-wide and per user.
FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local" / "share" / "fonts",
    Path.home() / ".fonts",
)
#: Fonts whose digits are pictures or symbols, not digits.
_NOT_TEXT = ("symbol", "dingbat", "emoji", "wingding", "webding", "icon", "awesome")
_SUFFIXES = {".ttf", ".otf"}
#: Glyphs are drawn this large, then shrunk: small sizes would lose the stroke's shape.
_GLYPH = 64
SIZE = 28
STROKES = (0, 1, 2)  # extra stroke width, in pixels of the glyph's size: light to bold


def font_files(dirs: Iterable[Path] = FONT_DIRS) -> list[Path]:
    """The TrueType and OpenType fonts installed, in a fixed order, symbol fonts left out."""
    found = set()
    for folder in dirs:
        if folder.is_dir():
            found |= {
                p
                for p in folder.rglob("*")
                if p.suffix.lower() in _SUFFIXES
                and not any(word in p.name.lower() for word in _NOT_TEXT)
            }
    return sorted(found, key=lambda p: p.name)


@cache
def glyph(font: Path | None, digit: int, stroke: int) -> Image.Image:
    """The ink (0..255) of `digit` in `font` (None: Pillow's own font), cropped to its box."""
    face = ImageFont.truetype(str(font), _GLYPH) if font else ImageFont.load_default(_GLYPH)
    canvas = Image.new("L", (2 * _GLYPH, 2 * _GLYPH), 0)
    draw = ImageDraw.Draw(canvas)
    draw.text((_GLYPH // 2, _GLYPH // 4), str(digit), fill=255, font=face, stroke_width=stroke,
              stroke_fill=255)  # fmt: skip
    box = canvas.getbbox()
    if box is None:
        raise ValueError(f"{font} draws nothing for {digit}")
    return canvas.crop(box)


def usable(fonts: Sequence[Path]) -> list[Path | None]:
    """The fonts that draw every digit; Pillow's own when there is none."""
    good: list[Path | None] = []
    for font in fonts:
        try:
            for digit in range(10):
                glyph(font, digit, 0)
        except (OSError, ValueError):
            continue  # a font that will not load, or has no digits
        good.append(font)
    return good or [None]


def samples(
    fonts: Sequence[Path | None], count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """`count` varied digits: [count, SIZE * SIZE] grey levels and their labels 0..9."""
    labels = rng.integers(0, 10, count)
    chosen = rng.integers(0, len(fonts), count)
    strokes = rng.choice(STROKES, count)
    ink = [glyph(fonts[f], int(d), int(s)) for f, d, s in zip(chosen, labels, strokes, strict=True)]
    return varied(ink, rng), labels


def varied(ink: Sequence[Image.Image], rng: np.random.Generator) -> np.ndarray:
    """Each glyph (ink 0..255) placed, blurred and put on paper: [N, SIZE * SIZE] grey levels."""
    placed_ = np.stack([placed(one, rng) for one in ink])
    return on_paper(blurred(placed_, rng), rng).reshape(len(ink), -1)


def placed(ink: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """The glyph at a random height (45-90% of the frame), angle, slant, width and offset,
    shrunk to SIZE x SIZE as the server shrinks a picture (averaging); ink 0..1."""
    frame = 2 * SIZE
    height = frame * rng.uniform(0.45, 0.9)
    scale = min(height / ink.height, 0.9 * frame / ink.width)
    angle = math.radians(rng.uniform(-12, 12))
    slant = rng.uniform(-0.25, 0.25)
    stretch = rng.uniform(0.85, 1.15)  # narrower or wider than the font draws it
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    # forward = rotation x [[stretch, slant], [0, 1]]; PIL wants the inverse mapping.
    a, b, c, d = cos * stretch, cos * slant - sin, sin * stretch, sin * slant + cos
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    ox, oy = frame / 2 + rng.uniform(-0.12, 0.12, 2) * frame
    ix, iy = ink.width / 2, ink.height / 2
    out = ink.transform(
        (frame, frame),
        Image.Transform.AFFINE,
        (ia, ib, ix - ia * ox - ib * oy, ic, id_, iy - ic * ox - id_ * oy),
        resample=Image.Resampling.BILINEAR,
    ).resize((SIZE, SIZE), Image.Resampling.BOX)
    return np.asarray(out, dtype=np.float32) / 255


def blurred(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each picture sharp or out of focus by a random amount (three levels)."""
    out = ink.copy()
    level = rng.integers(0, 3, len(ink))
    for sigma, chosen in ((0.45, level == 1), (0.8, level == 2)):
        out[chosen] = ndimage.gaussian_filter(ink[chosen], sigma=(0, sigma, sigma))
    return out


def on_paper(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ink [N, SIZE, SIZE] (0..1) as grey levels: paper of a random grey under uneven light,
    darker ink of a random grey, noise."""
    n = len(ink)
    paper = rng.uniform(0.5, 1.0, (n, 1, 1))
    dark = rng.uniform(0.0, 1.0, (n, 1, 1)) * np.maximum(0.05, paper - 0.35)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1) - 0.5
    light = rng.uniform(-0.25, 0.25, (n, 1, 1)) * xs + rng.uniform(-0.25, 0.25, (n, 1, 1)) * ys
    grey = paper + light - (paper - dark) * ink
    grey += rng.normal(0, 1, grey.shape) * rng.uniform(0, 0.05, (n, 1, 1))
    out: np.ndarray = np.clip(grey, 0, 1).astype(np.float32)
    return out
