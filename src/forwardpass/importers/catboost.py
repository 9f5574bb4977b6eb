"""Import a CatBoost model saved as `.cbm`, converted by CatBoost's own ONNX export. Needs
`forwardpass[catboost]`.

Feature names, class labels and whether it is a classifier come from the model. CatBoost
exports no categorical or text features to ONNX: such a model is refused, naming them.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from forwardpass.errors import BadData
from forwardpass.importers import extras, trees


def import_bytes(data: bytes, options: trees.Options) -> onnx.ModelProto:
    """The forwardpass model of a `.cbm` file's bytes."""
    return from_model(load(data), options)


def load(data: bytes) -> Any:
    """The CatBoost model of a `.cbm` file's bytes."""
    cb = extras.need("catboost", "catboost", "a CatBoost model")
    if not data.startswith(b"CBM1"):
        raise BadData("not a CatBoost model: a .cbm file starts with CBM1")
    model = cb.CatBoost()
    try:
        model.load_model(blob=data)
    except cb.CatBoostError as exc:
        raise BadData(f"not a CatBoost model: {str(exc)[:300]}") from None
    return model


def from_model(
    model: Any, options: trees.Options, example: np.ndarray | None = None
) -> onnx.ModelProto:
    """The forwardpass model of a loaded CatBoost model."""
    cb = extras.need("catboost", "catboost", "a CatBoost model")
    special = [
        model.feature_names_[i]
        for i in [*model.get_cat_feature_indices(), *model.get_text_feature_indices()]
    ]
    if special:
        raise BadData(
            "CatBoost cannot export categorical or text features to ONNX "
            f"({', '.join(special)}): encode them as numbers before training"
        )
    loss = str(model.get_all_params().get("loss_function", ""))
    classifier = loss in ("Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll")
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "model.onnx"
        try:
            model.save_model(str(target), format="onnx")
        except cb.CatBoostError as exc:
            raise BadData(f"CatBoost cannot export this model to ONNX: {exc}") from None
        converted = onnx.load(str(target))
    names = list(model.feature_names_)

    def predict(rows: np.ndarray) -> np.ndarray:
        kind = "Probability" if classifier else "RawFormulaVal"
        return np.asarray(model.predict(rows.astype(np.float64), prediction_type=kind))

    return trees.finish(
        converted,
        names,
        classes=[] if classifier else None,
        predict=predict,
        options=options,
        what="CatBoost model",
        example=example,
    )
