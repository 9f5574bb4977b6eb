"""Import an XGBoost model saved as JSON or UBJSON (a Booster's or an sklearn-API model's
`save_model`), converted by onnxmltools. Needs `forwardpass[xgboost]`.

Feature names come from the model (f0, f1, ... when it was trained on a matrix); whether it
is a classifier from its objective. XGBoost keeps no class labels: its classes are 0..k-1,
named with `--labels`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from forwardpass.errors import BadData
from forwardpass.importers import extras, trees

_CLASSIFYING = ("binary:logistic", "multi:softprob", "multi:softmax")


def import_bytes(data: bytes, suffix: str, options: trees.Options) -> onnx.ModelProto:
    """The forwardpass model of an XGBoost model file's bytes (`suffix` .json or .ubj)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"model{suffix}"
        path.write_bytes(data)
        return import_file(path, options)


def import_file(path: Path, options: trees.Options) -> onnx.ModelProto:
    return from_booster(load(path), options)


def load(path: Path) -> Any:
    """The `xgboost.Booster` saved at `path` (JSON or UBJSON)."""
    xgb = extras.need("xgboost", "xgboost", "an XGBoost model")
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except xgb.core.XGBoostError as exc:
        raise BadData(f"{path.name} is not an XGBoost model: {_first_line(exc)}") from None
    return booster


def from_booster(
    booster: Any, options: trees.Options, example: np.ndarray | None = None
) -> onnx.ModelProto:
    """The forwardpass model of a loaded `xgboost.Booster`."""
    xgb = extras.need("xgboost", "xgboost", "an XGBoost model")
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    width = booster.num_features()
    names = list(booster.feature_names or (f"f{i}" for i in range(width)))
    if booster.feature_types and any(t == "c" for t in booster.feature_types):
        raise BadData(
            "this XGBoost model splits on categorical features, which onnxmltools cannot "
            "convert: train it on one-hot or ordinal columns instead"
        )
    # onnxmltools reads features by index (f0, f1, ...); the names go into the signature.
    nameless = booster.copy()
    nameless.feature_names = None
    nameless.feature_types = None
    model = trees.convert(
        "convert_xgboost", "xgboost", "an XGBoost model", objective, width, nameless
    )
    classes = None
    if objective in _CLASSIFYING:
        count = 2 if objective.startswith("binary:") else _classes(booster)
        classes = [str(i) for i in range(count)]

    def predict(rows: np.ndarray) -> np.ndarray:
        answer = nameless.predict(xgb.DMatrix(rows, missing=np.nan))
        if objective == "binary:logistic":
            return trees.two_scores(answer)
        if objective == "multi:softmax":
            softprob = nameless.copy()
            softprob.set_param({"objective": "multi:softprob"})
            return np.asarray(softprob.predict(xgb.DMatrix(rows, missing=np.nan)))
        return np.asarray(answer)

    return trees.finish(
        model,
        names,
        classes=classes,
        predict=predict,
        options=options,
        example=example,
        what="XGBoost model",
    )


def _classes(booster: Any) -> int:
    config = json.loads(booster.save_config())
    return int(config["learner"]["learner_model_param"]["num_class"])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
