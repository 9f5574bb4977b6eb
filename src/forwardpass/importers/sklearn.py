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
import skl2onnx
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
from forwardpass.importers import extras
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
    targets = [target] if isinstance(target, str) else list(target)
    if isinstance(frame, pd.DataFrame):
        # A training frame still holding the target: the target is an answer, not an input.
        frame = frame.drop(columns=[t for t in targets if t in frame.columns])
    initial_types, inputs = _inputs(estimator, frame)
    classifier = is_classifier(estimator)
    options = {id(_final(estimator)): {"zipmap": False}} if classifier else None
    model = _convert(estimator, name, initial_types, options)
    outs = graph.outputs(model)
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
        elif dtype.kind in "iub" and found is not None:
            types.append((name, Int64TensorType([None, 1])))
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
        elif dtype.kind in "iubf":
            # An integer column no encoder reads feeds floats: scalers, imputers and trees
            # all compute in floats, and skl2onnx's SimpleImputer refuses integers.
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


def _convert(
    estimator: Any, name: str, initial_types: list[tuple[str, Any]], options: Any
) -> onnx.ModelProto:
    """skl2onnx's conversion; its failure names the step that caused it and what to do."""
    _register_boosters(estimator)
    try:
        model: onnx.ModelProto = convert_sklearn(
            estimator, name, initial_types=initial_types, options=options
        )
        return model
    except Exception as exc:  # skl2onnx raises RuntimeError, ValueError, MissingShapeCalculator
        hist = [(n, s) for n, s in _steps(estimator) if isinstance(s, _HIST)]
        if hist:
            step, kind = hist[0][0], type(hist[0][1]).__name__
            advice = _HIST_ADVICE.format(version=skl2onnx.__version__)
            raise SignatureError(f"step {step!r} ({kind}): {advice}") from None
        step, kind = _unsupported_step(estimator)
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else repr(exc)
        raise SignatureError(
            f"skl2onnx cannot convert step {step!r} ({kind}): {reason}. Replace that step "
            "with one skl2onnx supports, or convert the pipeline to ONNX yourself and "
            "import the ONNX file"
        ) from None


def _steps(estimator: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(name, estimator) of every step, transformer and model, depth first."""
    if isinstance(estimator, Pipeline):
        for name, step in estimator.steps:
            yield from _steps(step, f"{prefix}{name}")
    elif isinstance(estimator, ColumnTransformer):
        for name, transformer, _ in getattr(estimator, "transformers_", estimator.transformers):
            if not isinstance(transformer, str):
                yield from _steps(transformer, f"{prefix}{name}/")
    elif isinstance(estimator, FeatureUnion):
        for name, transformer in estimator.transformer_list:
            yield from _steps(transformer, f"{prefix}{name}/")
    else:
        yield prefix or type(estimator).__name__, estimator


def _unsupported_step(estimator: Any) -> tuple[str, str]:
    """The first step skl2onnx has no converter for, or else the final model."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    for name, step in _steps(estimator):
        if type(step) not in sklearn_operator_name_map:
            return name, type(step).__name__
    final = _final(estimator)
    named = [n for n, s in _steps(estimator) if s is final]
    return (named[0] if named else type(final).__name__), type(final).__name__


_HIST = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
_HIST_ADVICE = (
    "skl2onnx {version} cannot write the trees of this model (it fails building the "
    "TreeEnsemble node). Train the same histogram gradient boosting with LightGBM "
    "(LGBMRegressor or LGBMClassifier, converted with forwardpass[lightgbm]), or use "
    "GradientBoosting or RandomForest, which skl2onnx converts"
)


def _register_boosters(estimator: Any) -> None:
    """Teach skl2onnx the XGBoost and LightGBM estimators a pipeline ends with (onnxmltools
    has their converters)."""
    module = type(_final(estimator)).__module__.split(".")[0]
    if module not in ("xgboost", "lightgbm"):
        return
    from skl2onnx import update_registered_converter
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    extra = "xgboost" if module == "xgboost" else "lightgbm"
    what = f"a pipeline ending in {type(_final(estimator)).__name__}"
    library = extras.need(module, extra, what)
    if module == "xgboost":
        converters = extras.need(
            "onnxmltools.convert.xgboost.operator_converters.XGBoost", extra, what
        )
        pairs = [
            (library.XGBClassifier, converters.convert_xgboost, True),
            (library.XGBRegressor, converters.convert_xgboost, False),
        ]
    else:
        converters = extras.need(
            "onnxmltools.convert.lightgbm.operator_converters.LightGbm", extra, what
        )
        pairs = [
            (library.LGBMClassifier, converters.convert_lightgbm, True),
            (library.LGBMRegressor, converters.convert_lightgbm, False),
        ]
    for kind, convert, classifier in pairs:
        update_registered_converter(
            kind,
            f"{module}{kind.__name__}",
            calculate_linear_classifier_output_shapes
            if classifier
            else calculate_linear_regressor_output_shapes,
            convert,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]}
            if classifier
            else {"split": None},
        )


def sample_of(estimator: Any) -> pd.DataFrame:
    """A one-row sample frame of the columns a fitted estimator reads, for an estimator that
    arrives without data (a saved pipeline): names from `feature_names_in_`, strings or
    integers where an encoder holds categories, floats elsewhere."""
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        width = getattr(estimator, "n_features_in_", None)
        if width is None:
            raise SignatureError(
                "the estimator does not say which columns it reads (no feature_names_in_): "
                "give a signature file with --signature"
            )
        return pd.DataFrame({f"f{i}": [0.0] for i in range(int(width))})
    categories = dict(_categories(estimator))
    columns: dict[str, Any] = {}
    for name in map(str, names):
        found = categories.get(name)
        if found is None:
            columns[name] = [0.0]
        else:
            first = found[0][0]
            columns[name] = np.array([first], dtype=object if isinstance(first, str) else None)
    return pd.DataFrame(columns)
