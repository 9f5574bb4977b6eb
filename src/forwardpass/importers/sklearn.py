"""Import a fitted scikit-learn estimator or pipeline through skl2onnx.

Each column of the sample becomes one graph input of the same name, so named features map
straight onto the graph. Categories come from the fitted encoders; a classifier answers a
categorical output of label to probability (without ZipMap, which is several times slower).
A float column that a SimpleImputer (of NaN) or a HistGradientBoosting model reads first
takes missing values: `null` reaches the pipeline as NaN.

    >>> from forwardpass.importers import sklearn as importer
    >>> importer.save(pipeline, sample_dataframe, "weight.onnx", target="Weight")
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import (
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
)
from sklearn.base import BaseEstimator, is_classifier
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from forwardpass.errors import SignatureError
from forwardpass.importers.onnx import prepare
from forwardpass.model import graph
from forwardpass.model import signature as sig


def to_onnx(
    estimator: BaseEstimator,
    sample: pd.DataFrame | Mapping[str, Any] | np.ndarray,
    *,
    target: str | list[str] = "prediction",
    name: str = "forwardpass",
) -> onnx.ModelProto:
    """An ONNX model with its signature, from a fitted estimator and a sample of its input.

    `sample` is a DataFrame (or a dict of columns) with the columns the estimator was fitted
    on, or a 2-D numpy array for an estimator fitted on a plain matrix (one numeric input
    `X`). `target` names the output feature, or one name per column of a multi-output
    regressor.
    """
    frame = sample if isinstance(sample, pd.DataFrame | np.ndarray) else pd.DataFrame(sample)
    initial_types, inputs = _inputs(estimator, frame)
    classifier = is_classifier(estimator)
    options = {id(_final(estimator)): {"zipmap": False}} if classifier else None
    model = convert_sklearn(estimator, name, initial_types=initial_types, options=options)
    outs = graph.outputs(model)
    targets = [target] if isinstance(target, str) else list(target)
    if classifier:
        labels = [str(c) for c in estimator.classes_]
        scores = next(t for t in outs.values() if t.kind == "float")
        outputs = [
            sig.Feature(targets[0], "categorical", (len(labels),), scores.name, tuple(labels))
        ]
    else:
        tensor = next(iter(outs.values()))
        if len(targets) == 1:
            shape = tuple(d for d in tensor.item_dims if d) or (1,)
            outputs = [sig.Feature(targets[0], "numeric", shape, tensor.name)]
        else:
            outputs = [sig.Feature(t, "numeric", (1,), tensor.name) for t in targets]
    return prepare(model, sig.Signature(tuple(inputs), tuple(outputs)))


def save(
    estimator: BaseEstimator,
    sample: pd.DataFrame | Mapping[str, Any] | np.ndarray,
    path: str | Path,
    **options: Any,
) -> Path:
    """Write the model file of `to_onnx` to `path`."""
    target = Path(path)
    target.write_bytes(to_onnx(estimator, sample, **options).SerializeToString())
    return target


def _inputs(
    estimator: BaseEstimator, frame: pd.DataFrame | np.ndarray
) -> tuple[list[tuple[str, Any]], list[sig.Feature]]:
    if isinstance(frame, np.ndarray):
        if frame.ndim != 2:
            raise SignatureError("a numpy sample must be a 2-D array of examples")
        width = frame.shape[1]
        return [("X", FloatTensorType([None, width]))], [sig.Feature("X", "numeric", (width,), "X")]
    if not _selects_by_name(estimator):
        # The estimator sees one matrix: its named columns share one graph input.
        if not all(frame[c].dtype.kind in "fiub" for c in frame.columns):
            raise SignatureError(
                "columns of text or categories need a ColumnTransformer that selects them by "
                "name, so that each column can be its own graph input"
            )
        width, nan = len(frame.columns), _takes_nan(estimator)
        return [("input", FloatTensorType([None, width]))], [
            sig.Feature(str(c), "numeric", (1,), "input", missing=nan) for c in frame.columns
        ]
    categories = dict(_categories(estimator))
    nan_columns = _nan_columns(estimator)
    types, features = [], []
    for column in frame.columns:
        name, dtype = str(column), frame[column].dtype
        found = categories.get(name)
        if dtype.kind in "OUS" or isinstance(dtype, pd.StringDtype | pd.CategoricalDtype):
            types.append((name, StringTensorType([None, 1])))
            if found is not None:
                cats, unknown = found
                features.append(
                    sig.Feature(
                        name,
                        "categorical",
                        (1,),
                        name,
                        tuple(str(c) for c in cats),
                        allow_unknown=unknown,
                    )
                )
            else:
                features.append(sig.Feature(name, "text", (1,), name))
        elif dtype.kind in "iub":
            types.append((name, Int64TensorType([None, 1])))
            if found is not None:
                cats, unknown = found
                features.append(
                    sig.Feature(
                        name,
                        "categorical",
                        (1,),
                        name,
                        tuple(int(c) for c in cats),
                        allow_unknown=unknown,
                    )
                )
            else:
                features.append(sig.Feature(name, "numeric", (1,), name))
        elif dtype.kind == "f":
            types.append((name, FloatTensorType([None, 1])))
            features.append(sig.Feature(name, "numeric", (1,), name, missing=name in nan_columns))
        else:
            raise SignatureError(f"column {name!r} has dtype {dtype}, which no feature type fits")
    return types, features


def _selects_by_name(estimator: Any) -> bool:
    """Whether the estimator picks its columns by name (a ColumnTransformer comes first)."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[0][1]
    return isinstance(estimator, ColumnTransformer)


def _takes_nan(estimator: Any) -> bool:
    """Whether the first step to see the raw columns makes NaN an answer: a SimpleImputer of
    NaN, or a HistGradientBoosting model (its trees route NaN, and so do their ONNX nodes)."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[0][1]
    if isinstance(estimator, SimpleImputer):
        value = estimator.missing_values
        return isinstance(value, float) and np.isnan(value)
    return isinstance(estimator, HistGradientBoostingClassifier | HistGradientBoostingRegressor)


def _nan_columns(estimator: Any) -> set[str]:
    """The columns a ColumnTransformer hands, by name, to a transformer that takes NaN."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[0][1]
    found: set[str] = set()
    if isinstance(estimator, ColumnTransformer):
        for _name, transformer, selected in estimator.transformers_:
            if isinstance(selected, str):
                selected = [selected]
            if not isinstance(transformer, str) and _named(selected) and _takes_nan(transformer):
                found.update(selected)
    return found


def _final(estimator: Any) -> Any:
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


def _categories(
    estimator: Any, columns: list[str] | None = None
) -> Iterator[tuple[str, tuple[list[Any], bool]]]:
    """(column, (categories, accepts unknowns)) for every column a fitted encoder reads."""
    if isinstance(estimator, Pipeline):
        # Only the first step sees the raw columns.
        yield from _categories(estimator.steps[0][1], columns)
    elif isinstance(estimator, ColumnTransformer):
        for _name, transformer, selected in estimator.transformers_:
            if isinstance(selected, str):
                selected = [selected]
            if isinstance(transformer, str) or not _named(selected):
                continue
            yield from _categories(transformer, [str(c) for c in selected])
    elif isinstance(estimator, FeatureUnion):
        for _name, transformer in estimator.transformer_list:
            yield from _categories(transformer, columns)
    elif isinstance(estimator, OneHotEncoder | OrdinalEncoder) and columns:
        if isinstance(estimator, OneHotEncoder):
            unknown = estimator.handle_unknown != "error"
        else:
            unknown = estimator.handle_unknown == "use_encoded_value"
        for column, cats in zip(columns, estimator.categories_, strict=False):
            yield column, (list(cats), unknown)


def _named(selected: Any) -> bool:
    return isinstance(selected, list | tuple) and all(isinstance(c, str) for c in selected)
