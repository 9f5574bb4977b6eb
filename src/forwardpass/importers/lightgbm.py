"""Import a LightGBM model saved as text (`booster.save_model("model.txt")`), converted by
onnxmltools. Needs `forwardpass[lightgbm]`.

Feature names come from the model; whether it is a classifier from its objective. LightGBM
keeps no class labels: its classes are 0..k-1, named with `--labels`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from forwardpass.errors import BadData
from forwardpass.importers import extras, trees


def import_bytes(data: bytes, options: trees.Options) -> onnx.ModelProto:
    """The forwardpass model of a LightGBM text model's bytes."""
    return from_booster(load(data), options)


def load(data: bytes) -> Any:
    """The `lightgbm.Booster` of a text model's bytes."""
    lgb = extras.need("lightgbm", "lightgbm", "a LightGBM model")
    if not data.startswith(b"tree\n"):
        raise BadData("not a LightGBM text model: it does not start with 'tree'")
    try:
        text = data.decode()
        booster = lgb.Booster(model_str=text)
    except (UnicodeDecodeError, lgb.basic.LightGBMError) as exc:
        raise BadData(f"not a LightGBM text model: {str(exc)[:300]}") from None
    return booster


def from_booster(
    booster: Any, options: trees.Options, example: np.ndarray | None = None
) -> onnx.ModelProto:
    """The forwardpass model of a loaded `lightgbm.Booster`."""
    dumped = booster.dump_model(num_iteration=-1)
    objective = str(dumped.get("objective", "")).split(" ")[0]
    names = list(booster.feature_name())
    model = trees.convert(
        "convert_lightgbm",
        "lightgbm",
        "a LightGBM model",
        objective,
        len(names),
        booster,
        zipmap=False,
    )
    classes = None
    if objective in ("binary", "multiclass", "multiclassova"):
        count = 2 if objective == "binary" else int(dumped["num_class"])
        classes = [str(i) for i in range(count)]

    def predict(rows: np.ndarray) -> np.ndarray:
        answer = np.asarray(booster.predict(rows.astype(np.float64)))
        return trees.two_scores(answer) if objective == "binary" else answer

    return trees.finish(
        model,
        names,
        classes=classes,
        predict=predict,
        options=options,
        example=example,
        what="LightGBM model",
    )
