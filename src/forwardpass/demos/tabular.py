"""The contract's example model, trained on the spot from synthetic data.

Inputs `Type` (animal or vehicle), `Sound` and `Size`; output `Weight`. A 50-tree random
forest behind a one-hot encoder, converted to ONNX by the scikit-learn importer.
"""

from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from forwardpass.importers import sklearn as importer

MODEL_NAME = "weight"
DEPLOYMENT_NAME = "demo"

# sound: (type, typical size in metres, typical weight in kg)
KINDS: dict[str, tuple[str, float, float]] = {
    "miaow": ("animal", 0.5, 4.0),
    "woof": ("animal", 0.8, 30.0),
    "moo": ("animal", 2.0, 600.0),
    "quack": ("animal", 0.4, 1.5),
    "tchoo": ("vehicle", 50.0, 400_000.0),
    "vroom": ("vehicle", 4.5, 1_500.0),
    "honk": ("vehicle", 10.0, 15_000.0),
    "beep": ("vehicle", 1.5, 100.0),
}

#: The contract's four-row example, as the demo's curl command sends it.
EXAMPLE_ROWS: list[dict[str, object]] = [
    {"Type": "animal", "Sound": "miaow", "Size": 0.4},
    {"Type": "animal", "Sound": "woof", "Size": 0.9},
    {"Type": "vehicle", "Sound": "tchoo", "Size": 48.0},
    {"Type": "vehicle", "Sound": "vroom", "Size": 4.2},
]


def training_data(rows: int = 2_000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    sounds = rng.choice(list(KINDS), size=rows)
    kinds = [KINDS[s] for s in sounds]
    scale = rng.lognormal(0.0, 0.25, size=rows)
    size = np.array([k[1] for k in kinds]) * scale
    weight = np.array([k[2] for k in kinds]) * scale**3 * rng.lognormal(0.0, 0.05, size=rows)
    frame = pd.DataFrame(
        {"Type": [k[0] for k in kinds], "Sound": sounds, "Size": size.astype(np.float32)}
    )
    return frame, weight


def train(seed: int = 0) -> tuple[Pipeline, pd.DataFrame]:
    """The fitted pipeline and a sample of its input."""
    frame, weight = training_data(seed=seed)
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [
                        ("categories", OneHotEncoder(), ["Type", "Sound"]),
                        ("numbers", "passthrough", ["Size"]),
                    ]
                ),
            ),
            ("forest", RandomForestRegressor(n_estimators=50, max_depth=12, random_state=seed)),
        ]
    )
    pipeline.fit(frame, weight)
    return pipeline, frame.head(5)


def model() -> onnx.ModelProto:
    """The demo model as a forwardpass ONNX file, trained now."""
    pipeline, sample = train()
    return importer.to_onnx(pipeline, sample, target="Weight")
