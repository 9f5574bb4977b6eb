"""Fitted scikit-learn estimators through skl2onnx: one input per column, categories kept."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from forwardpass.codecs.rows import RowCodec
from forwardpass.demos import tabular as demo
from forwardpass.errors import BadData, SignatureError
from forwardpass.importers import sklearn as importer
from forwardpass.model import graph
from forwardpass.model import signature as sig


def test_the_demo_pipeline_keeps_its_categories_and_answers_like_sklearn():
    pipeline, sample = demo.train()
    model = importer.to_onnx(pipeline, sample, target="Weight")
    found = sig.read(model)
    assert found is not None
    by_name = {f.name: f for f in found.inputs}
    assert by_name["Type"].type == "categorical"
    assert set(by_name["Type"].categories or ()) == {"animal", "vehicle"}
    assert set(by_name["Sound"].categories or ()) == set(demo.KINDS)
    assert not by_name["Sound"].allow_unknown
    assert by_name["Size"].type == "numeric"
    assert [f.name for f in found.outputs] == ["Weight"]
    frame = pd.DataFrame(demo.EXAMPLE_ROWS)
    feeds = {
        "Type": frame[["Type"]].to_numpy(dtype=object),
        "Sound": frame[["Sound"]].to_numpy(dtype=object),
        "Size": frame[["Size"]].to_numpy(dtype=np.float32),
    }
    onnx_out = ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0].reshape(-1)
    np.testing.assert_allclose(onnx_out, pipeline.predict(frame), rtol=1e-4)


def test_a_classifier_answers_scores_over_its_classes_without_zipmap():
    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = ["sl", "sw", "pl", "pw"]
    names = np.array(["setosa", "versicolor", "virginica"])
    clf = LogisticRegression(max_iter=500).fit(x, names[y])
    model = importer.to_onnx(clf, x.head(), target="species")
    assert not any(n.op_type == "ZipMap" for n in model.graph.node)
    found = sig.read(model)
    assert found is not None
    (output,) = found.outputs
    assert (output.name, output.type, output.categories) == ("species", "categorical", tuple(names))
    # A bare estimator sees one matrix: the named columns share one graph input.
    assert [(f.name, f.tensor) for f in found.inputs] == [
        (c, "input") for c in ("sl", "sw", "pl", "pw")
    ]
    interface = RowCodec(found, graph.inputs(model), graph.outputs(model))
    feeds = interface.decode(x.to_dict("records"))
    scores = ort.InferenceSession(model.SerializeToString()).run([output.tensor], feeds)[0]
    np.testing.assert_allclose(scores, clf.predict_proba(x), atol=1e-4)


def test_encoders_that_accept_unknowns_say_so_and_integer_categories_stay_integers():
    frame = pd.DataFrame(
        {"colour": ["red", "blue", "red", "green"], "size": [1, 2, 3, 1], "x": [0.1, 0.2, 0.3, 0.4]}
    )
    pipeline = Pipeline(
        [
            (
                "encode",
                ColumnTransformer(
                    [
                        ("colour", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
                        ("size", OrdinalEncoder(), ["size"]),
                        ("x", "passthrough", ["x"]),
                    ]
                ),
            ),
            ("model", LinearRegression()),
        ]
    ).fit(frame, [1.0, 2.0, 3.0, 4.0])
    found = sig.read(importer.to_onnx(pipeline, frame))
    assert found is not None
    by_name = {f.name: f for f in found.inputs}
    assert by_name["colour"].allow_unknown and by_name["colour"].categories == (
        "blue",
        "green",
        "red",
    )
    assert by_name["size"].categories == (1, 2, 3) and not by_name["size"].allow_unknown
    assert found.outputs[0].name == "prediction"


def test_a_numpy_sample_gives_one_tensor_input(tmp_path):
    x, y = load_iris(return_X_y=True)
    path = importer.save(LinearRegression().fit(x, y), x[:5], tmp_path / "m.onnx", target="y")
    found = sig.read(__import__("onnx").load(str(path)))
    assert found is not None
    assert [(f.name, f.shape) for f in found.inputs] == [("X", (4,))]


def test_columns_an_imputer_or_a_histogram_booster_reads_first_take_missing_values():
    frame = pd.DataFrame(
        {"a": [1.0, np.nan, 3.0, 4.0], "b": [0.5, 1.5, 2.5, 3.5], "n": [1, 2, 3, 4]}
    )
    target = [1.0, 2.0, 3.0, 4.0]
    columns = ColumnTransformer(
        [("a", SimpleImputer(), ["a"]), ("b", "passthrough", ["b"]), ("n", "passthrough", ["n"])]
    )
    pipeline = Pipeline([("columns", columns), ("model", LinearRegression())]).fit(frame, target)
    found = sig.read(importer.to_onnx(pipeline, frame, target="y"))
    assert found is not None
    assert {f.name: f.missing for f in found.inputs} == {"a": True, "b": False, "n": False}
    # skl2onnx 1.20 cannot convert a HistGradientBoosting model under this numpy (it fails
    # building the TreeEnsemble node), so its rule is checked on the estimator alone.
    assert importer._takes_nan(HistGradientBoostingRegressor())
    assert not importer._takes_nan(SimpleImputer(missing_values=-1))
    floats = frame[["a", "b"]]
    linear = LinearRegression().fit(floats.fillna(0), target)
    plain = sig.read(importer.to_onnx(linear, floats))
    assert plain is not None and not any(f.missing for f in plain.inputs)


def _churn() -> pd.DataFrame:
    random = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "plan": random.choice(["basic", "pro"], 60),
            "months": random.integers(1, 48, 60),  # int64
            "spend": random.normal(50, 10, 60),
            "churned": random.integers(0, 2, 60),
        }
    )


def _churn_pipeline(frame: pd.DataFrame) -> Pipeline:
    encode = ColumnTransformer(
        [
            ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ("numbers", SimpleImputer(), ["months", "spend"]),
        ]
    )
    pipeline = Pipeline([("encode", encode), ("model", LogisticRegression(max_iter=500))])
    return pipeline.fit(frame.drop(columns="churned"), frame["churned"])


def test_the_target_column_of_a_training_frame_is_not_an_input():
    frame = _churn()
    model = importer.to_onnx(_churn_pipeline(frame), frame.head(), target="churned")
    found = sig.read(model)
    assert found is not None
    assert [f.name for f in found.inputs] == ["plan", "months", "spend"]
    assert [f.name for f in found.outputs] == ["churned"]


def test_an_integer_column_under_a_simple_imputer_converts_and_answers_like_sklearn():
    frame = _churn()
    pipeline = _churn_pipeline(frame)
    model = importer.to_onnx(pipeline, frame.head(), target="churned")
    found = sig.read(model)
    assert found is not None
    months = next(f for f in found.inputs if f.name == "months")
    assert (months.type, months.missing) == ("numeric", True)  # floats, so null is NaN
    rows = frame.drop(columns="churned").head(8)
    interface = RowCodec(found, graph.inputs(model), graph.outputs(model))
    feeds = interface.decode(rows.to_dict("records"))
    scores = ort.InferenceSession(model.SerializeToString()).run([found.outputs[0].tensor], feeds)
    np.testing.assert_allclose(scores[0], pipeline.predict_proba(rows), atol=1e-5)


def test_a_step_skl2onnx_cannot_convert_is_named_with_what_to_do():
    x, y = load_iris(return_X_y=True, as_frame=True)
    pipeline = Pipeline(
        [("impute", SimpleImputer()), ("boost", HistGradientBoostingRegressor(max_iter=2))]
    ).fit(x, y)
    with pytest.raises(SignatureError) as caught:
        importer.to_onnx(pipeline, x.head())
    assert "'boost'" in caught.value.message and "LGBMRegressor" in caught.value.message


def test_a_missing_converter_names_its_pip_line():
    from forwardpass.importers import extras

    with pytest.raises(BadData) as caught:
        extras.need("forwardpass_no_such_module", "xgboost", "an XGBoost model")
    assert "pip install 'forwardpass[xgboost]'" in caught.value.message


def test_a_skops_file_is_imported_without_the_pickle_flag(tmp_path):
    import skops.io

    from forwardpass.importers import sources

    frame = _churn()
    pipeline = _churn_pipeline(frame)
    path = tmp_path / "churn.skops"
    skops.io.dump(pipeline, path)
    data = sources.import_path(path, sources.Options(target="churned"))
    found = sig.read(onnx.load_from_string(data))
    assert found is not None and [f.name for f in found.outputs] == ["churned"]
    assert found.outputs[0].categories == (0, 1) or found.outputs[0].categories == ("0", "1")
