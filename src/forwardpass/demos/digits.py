"""The image demo: a digit reader trained on the spot, for digits typed or written on paper.

The training data are digits rendered in the fonts this machine has and, a quarter of them,
scikit-learn's handwritten digits (8x8 scans, scaled up), varied as a photo of a digit on
paper varies (demos/fonts.py): 28x28 grey levels. The model is a small
multi-layer perceptron (scikit-learn) over the pixels, each picture first stretched to the
full range between its lightest and darkest pixel, so grey paper, dim light and faint ink
look alike; that stretch is part of the ONNX graph, so the server needs nothing else.

Its signature says that the input `image` is a 28x28 grayscale image, centre-cropped to a
square then scaled (`crop_and_resize`: a photo keeps its proportions), whose pixels p become
`1 - p / 255` (ink is high); so a picture of any size and format can be sent. Its output
`digit` scores the labels "0" to "9".
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from forwardpass.codecs.image import png_data_uri
from forwardpass.demos import fonts as glyphs
from forwardpass.importers import onnx as onnx_importer
from forwardpass.model import signature as sig

MODEL_NAME = "digits"
DEPLOYMENT_NAME = "demo-image"
LABELS = tuple(str(d) for d in range(10))
SIZE = glyphs.SIZE
#: Training pictures: with the network below, about 15 s on one core (README's figures).
SAMPLES = 16_000

#: The share of handwritten digits in the training data, and which of scikit-learn's
#: 1,797 they come from (the rest are held out to measure the model).
HANDWRITTEN_SHARE = 0.25
HANDWRITTEN_TRAIN = 1200

#: p -> (p / 255 - 1) / -1 = 1 - p / 255: white paper is 0, black ink 1.
SETTINGS = sig.ImageSettings(
    height=SIZE, width=SIZE, mode="L", mean=(1.0,), std=(-1.0,), transformation="crop_and_resize"
)
#: A blank picture is not stretched into noise: its range counts as at least this.
_FLOOR = 0.1


def stretched(ink: np.ndarray) -> np.ndarray:
    """Each row from its lowest to its highest value onto 0..1 (the graph does the same)."""
    low = ink.min(axis=1, keepdims=True)
    span = np.maximum(ink.max(axis=1, keepdims=True) - low, _FLOOR)
    out: np.ndarray = ((ink - low) / span).astype(np.float32)
    return out


def handwritten(start: int = 0, stop: int | None = None) -> tuple[list[Image.Image], np.ndarray]:
    """scikit-learn's handwritten digits `start:stop` (8x8 scans, 1,797 in all) as glyphs:
    ink 0..255, scaled up smoothly and cropped to their ink; and their labels 0..9."""
    data = load_digits()
    glyphs_ = []
    for scan in data.images[start:stop]:
        big = Image.fromarray(np.rint(scan * 255 / 16).astype(np.uint8)).resize(
            (40, 40), Image.Resampling.BICUBIC
        )
        glyphs_.append(big.crop(big.point(lambda v: 255 if v > 60 else 0).getbbox()))
    return glyphs_, data.target[start:stop]


def training_data(
    fonts: Sequence[Path] | None = None, count: int = SAMPLES, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`count` varied digits as the model's input (ink 0..1, [count, 784]) and their labels
    "0".."9": most in `fonts` (default: every font installed), a share handwritten (the
    first `HANDWRITTEN_TRAIN` of scikit-learn's)."""
    rng = np.random.default_rng(seed)
    usable = glyphs.usable(glyphs.font_files() if fonts is None else fonts)
    written = int(count * HANDWRITTEN_SHARE)
    grey, labels = glyphs.samples(usable, count - written, rng)
    scans, marks = handwritten(0, HANDWRITTEN_TRAIN)
    chosen = rng.integers(0, len(scans), written)
    grey = np.concatenate([grey, glyphs.varied([scans[i] for i in chosen], rng)])
    labels = np.concatenate([labels, marks[chosen]])
    return 1 - grey, labels.astype(str)


def model(
    fonts: Sequence[Path] | None = None, count: int = SAMPLES, seed: int = 0
) -> onnx.ModelProto:
    """The digit reader as a forwardpass ONNX file, trained now on `fonts` (default: every
    font installed)."""
    x, y = training_data(fonts, count, seed)
    classifier = MLPClassifier(
        hidden_layer_sizes=(128, 64), alpha=1e-3, batch_size=128, max_iter=25, random_state=seed
    )
    # One BLAS thread: the same model on every machine, and no fight with a busy one's cores.
    with warnings.catch_warnings(), threadpool_limits(1):
        # A fixed number of passes keeps the demo's start short; it has converged enough.
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(stretched(x), y)
    converted = convert_sklearn(
        classifier,
        "digits",
        initial_types=[("stretched", FloatTensorType([None, SIZE * SIZE]))],
        options={id(classifier): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    _stretch_first(converted)
    signature = sig.Signature(
        inputs=(sig.Feature("image", "image", SETTINGS.shape, "image", image=SETTINGS),),
        outputs=(sig.Feature("digit", "categorical", (10,), "probabilities", LABELS),),
    )
    return onnx_importer.prepare(converted, signature)


def _stretch_first(model: onnx.ModelProto) -> None:
    """Put `stretched` in front of the graph: input `image` -> its output `stretched`."""
    graph = model.graph
    nodes = [
        helper.make_node("ReduceMin", ["image"], ["low"], axes=[1], keepdims=1),
        helper.make_node("ReduceMax", ["image"], ["high"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["high", "low"], ["span"]),
        helper.make_node("Max", ["span", "floor"], ["range"]),
        helper.make_node("Sub", ["image", "low"], ["raised"]),
        helper.make_node("Div", ["raised", "range"], ["stretched"]),
    ]
    graph.initializer.append(helper.make_tensor("floor", TensorProto.FLOAT, [1], [_FLOOR]))
    old = list(graph.node)
    del graph.node[:]
    graph.node.extend([*nodes, *old])
    graph.input[0].name = "image"


def photo_of(digit: int = 3, size: int = 96) -> Image.Image:
    """A digit as a camera might see it: printed in the first font, on grey paper lit from
    one side, slightly tilted and out of focus, JPEG-compressed."""
    font = glyphs.usable(glyphs.font_files())[0]
    face = ImageFont.truetype(str(font), size * 3 // 4) if font else ImageFont.load_default(72)
    ink = Image.new("L", (size, size), 0)
    ImageDraw.Draw(ink).text((size / 2, size / 2), str(digit), fill=255, font=face, anchor="mm")
    ink = ink.rotate(-6, resample=Image.Resampling.BILINEAR)
    ys, xs = np.mgrid[0:size, 0:size] / size
    paper = 190 + 30 * xs - 15 * ys
    grey = paper - (paper - 45) * np.asarray(ink, dtype=np.float64) / 255
    picture = Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8))
    picture = picture.filter(ImageFilter.GaussianBlur(0.8))
    data = io.BytesIO()
    picture.save(data, "JPEG", quality=80)
    return Image.open(data)


def example_rows() -> list[dict[str, object]]:
    """One row: a 96x96 PNG of a 3 on grey paper (`photo_of`)."""
    return [{"image": png_data_uri(photo_of(3))}]
