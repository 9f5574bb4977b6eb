"""A fitted estimator that arrives without its training code (a saved pipeline, an MLflow
model): choose its converter, make rows to check it on, refuse it if the answers differ.

An XGBoost or LightGBM estimator on its own goes to its booster's importer (keeping its
class labels); anything else, pipelines ending in one of them included, to skl2onnx.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pandas as pd
from sklearn.base import is_classifier

from forwardpass.codecs.rows import RowCodec
from forwardpass.importers import agreement, trees
from forwardpass.importers import sklearn as sklearn_importer
from forwardpass.importers.onnx import prepare
from forwardpass.model import graph
from forwardpass.model import signature as sig


def convert(
    estimator: Any, options: trees.Options, sample: pd.DataFrame | None = None
) -> onnx.ModelProto:
    """The forwardpass model of `estimator`, checked on `sample` (say, an MLflow input
    example) and on rows made from its signature."""
    module = type(estimator).__module__.split(".")[0]
    classes = [str(c) for c in getattr(estimator, "classes_", [])] or None
    example = None if sample is None else sample.to_numpy(dtype=np.float32)
    if module == "xgboost" and hasattr(estimator, "get_booster"):
        from forwardpass.importers import xgboost

        model = xgboost.from_booster(estimator.get_booster(), options, example)
        return _labelled(model, classes)
    if module == "lightgbm" and hasattr(estimator, "booster_"):
        from forwardpass.importers import lightgbm

        model = lightgbm.from_booster(estimator.booster_, options, example)
        return _labelled(model, classes)
    frame = sample if sample is not None else sklearn_importer.sample_of(estimator)
    model = sklearn_importer.to_onnx(estimator, frame.head(1), target=options.target)
    found = sig.read(model)
    assert found is not None
    rows = pd.concat([frame, _rows(found, 48)], ignore_index=True)
    records = [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
        for r in rows.to_dict("records")
    ]
    (output,) = found.outputs
    feeds = RowCodec(found, graph.inputs(model), graph.outputs(model)).decode(records)
    converted = agreement.run(model, feeds, output.tensor)
    answer = estimator.predict_proba if is_classifier(estimator) else estimator.predict
    original = answer(rows)
    agreement.check(converted, original, type(sklearn_importer._final(estimator)).__name__)
    return model


def _labelled(model: onnx.ModelProto, classes: list[str] | None) -> onnx.ModelProto:
    """The booster's model with the estimator's own class labels (a booster keeps none)."""
    found = sig.read(model)
    if not classes or found is None:
        return model
    return prepare(model, trees.relabel(found, classes))


def _rows(signature: sig.Signature, count: int, seed: int = 0) -> pd.DataFrame:
    """Rows the signature allows: categories drawn from each categorical input, standard
    normal values for numbers (the checks compare answers, so any valid value will do)."""
    random = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for feature in signature.inputs:
        if feature.type == "categorical" and feature.categories:
            columns[feature.name] = random.choice(np.array(feature.categories, dtype=object), count)
            if all(isinstance(c, int) for c in feature.categories):
                columns[feature.name] = columns[feature.name].astype(np.int64)
        elif feature.type == "text":
            columns[feature.name] = np.array(["text"] * count, dtype=object)
        else:
            columns[feature.name] = random.standard_normal(count)
    return pd.DataFrame(columns)
