"""The image demo: a handwritten-digit classifier trained on the spot.

scikit-learn's digits are 8x8 images of ink intensity (0 = paper, 16 = ink). The model is a
logistic regression on those 64 values scaled to 0..1; its signature says that its input
`image` is an 8x8 grayscale image whose pixels p become `1 - p / 255` (dark ink on light
paper, as a photo of a handwritten digit is), so a picture of any size and format can be sent.
Its output `digit` scores the labels "0" to "9".
"""

from __future__ import annotations

import numpy as np
import onnx
from PIL import Image
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from forwardpass.codecs.image import png_data_uri
from forwardpass.importers import onnx as onnx_importer
from forwardpass.model import signature as sig

MODEL_NAME = "digits"
DEPLOYMENT_NAME = "demo-image"
LABELS = tuple(str(d) for d in range(10))

#: p -> (p / 255 - 1) / -1 = 1 - p / 255: white paper is 0, black ink 1.
SETTINGS = sig.ImageSettings(height=8, width=8, mode="L", mean=(1.0,), std=(-1.0,))


def training_data() -> tuple[np.ndarray, np.ndarray]:
    """The digits as [N, 64] floats in 0..1 (ink) and their labels "0".."9"."""
    digits = load_digits()
    return (digits.data / 16.0).astype(np.float32), digits.target.astype(str)


def picture(ink: np.ndarray, size: int = 64) -> Image.Image:
    """One digit (64 ink values in 0..1) drawn black on white, `size` pixels square."""
    pixels = np.rint(255 * (1 - np.asarray(ink).reshape(8, 8))).astype(np.uint8)
    return Image.fromarray(pixels).resize((size, size), Image.Resampling.NEAREST)


def model(seed: int = 0) -> onnx.ModelProto:
    """The digit classifier as a forwardpass ONNX file, trained now (about a second)."""
    x, y = training_data()
    classifier = LogisticRegression(C=0.5, max_iter=1000, random_state=seed).fit(x, y)
    converted = convert_sklearn(
        classifier,
        "digits",
        initial_types=[("image", FloatTensorType([None, 64]))],
        options={id(classifier): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    signature = sig.Signature(
        inputs=(sig.Feature("image", "image", SETTINGS.shape, "image", image=SETTINGS),),
        outputs=(sig.Feature("digit", "categorical", (10,), "probabilities", LABELS),),
    )
    return onnx_importer.prepare(converted, signature)


def example_rows() -> list[dict[str, object]]:
    """One row: a 32x32 PNG of the first digit in the data set (a zero)."""
    x, _ = training_data()
    return [{"image": png_data_uri(picture(x[0], 32))}]
