"""Plain ONNX files: the inferred signature, and a signature file that overrides it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import yaml
from onnx import TensorProto, helper

from forwardpass.errors import BadData, SignatureError
from forwardpass.importers import onnx as importer
from forwardpass.model import signature as sig
from tests.model.test_signature_text import laughs
from tests.models import iris_rows
from tests.support import bearer, cli_json, run_cli, wait_for


def test_a_skl2onnx_classifier_becomes_a_categorical_output_without_zipmap(model_files):
    raw = model_files["iris"].read_bytes()
    assert any(n.op_type == "ZipMap" for n in onnx.load_from_string(raw).graph.node)
    model = onnx.load_from_string(importer.import_bytes(raw))
    assert not any(n.op_type == "ZipMap" for n in model.graph.node)
    found = sig.read(model)
    assert found is not None
    assert [f.to_dict() for f in found.inputs] == [
        {"name": "X", "type": "numeric", "shape": [4], "tensor": "X"}
    ]
    (output,) = found.outputs
    assert output.type == "categorical"
    assert output.categories == ("setosa", "versicolor", "virginica")
    # The scores are the same as the ZipMap's were.
    x = np.array(iris_rows(), dtype=np.float32)
    maps = ort.InferenceSession(raw).run(None, {"X": x})[1]
    scores = ort.InferenceSession(model.SerializeToString()).run([output.tensor], {"X": x})[0]
    np.testing.assert_allclose(scores, [[m[k] for k in output.categories] for m in maps], rtol=1e-6)


def test_plain_graphs_give_numeric_features_of_their_shape(model_files):
    two = sig.read(onnx.load_from_string(importer.import_bytes(model_files["two"].read_bytes())))
    assert two is not None
    assert [(f.name, f.type, f.shape) for f in two.inputs] == [("x", "numeric", (2,))]
    assert [(f.name, f.shape) for f in two.outputs] == [("sum", (1,)), ("product", (1,))]
    tensor = sig.read(
        onnx.load_from_string(importer.import_bytes(model_files["tensor"].read_bytes()))
    )
    assert tensor is not None and tensor.inputs[0].shape == (2, 3)


def test_not_onnx_is_bad_data():
    with pytest.raises(BadData):
        importer.import_bytes(b"hello")


IRIS_SIGNATURE = {
    "inputs": [
        {"name": n, "type": "numeric", "tensor": "X"}
        for n in ("sepal_length", "sepal_width", "petal_length", "petal_width")
    ],
    "outputs": [
        {
            "name": "species",
            "type": "categorical",
            "shape": [3],
            "tensor": "output_probability",
            "categories": ["setosa", "versicolor", "virginica"],
        }
    ],
}


def test_a_signature_file_names_the_columns_of_a_shared_tensor(served, model_files, tmp_path):
    path = tmp_path / "iris.yaml"
    path.write_text(yaml.safe_dump(IRIS_SIGNATURE))
    data_dir = served["data_dir"]
    imported = cli_json(
        data_dir,
        "model",
        "import",
        str(model_files["iris"]),
        "--name",
        "iris-named",
        "--signature",
        str(path),
    )
    assert [f["name"] for f in imported["signature"]["inputs"]] == [
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    ]
    created = cli_json(data_dir, "deployment", "create", "iris-named")
    url = served["server"].url(created["id"])
    names = [f["name"] for f in IRIS_SIGNATURE["inputs"]]
    rows = [dict(zip(names, r, strict=True)) for r in iris_rows()]
    response = wait_for(
        lambda: (
            (
                r := httpx.post(url, json={"rows": rows}, headers=bearer(created["token"]))
            ).status_code
            == 200
            and r
        )
    )
    by_name = [r["species"] for r in response.json()["rows"]]
    by_tensor = httpx.post(
        served["iris"]["url"],
        json={"rows": [{"X": r} for r in iris_rows()]},
        headers=bearer(served["iris"]["token"]),
    ).json()["rows"]
    assert by_name == [r["output_probability"] for r in by_tensor]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s["inputs"].pop(), "need 3 values per example but tensor 'X' takes 4"),
        (lambda s: s["outputs"][0].update(tensor="nope"), "does not have as an output"),
        (lambda s: s["outputs"][0].update(categories=["a", "b"]), "2 class labels"),
        (lambda s: s["inputs"][0].update(type="text"), "holds float values"),
        (lambda s: s["inputs"][0].update(type="colour"), "type must be one of"),
        (lambda s: s["inputs"][1].update(name="sepal_length"), "must be distinct"),
        (lambda s: s.pop("outputs"), "non-empty list of outputs"),
    ],
)
def test_a_signature_that_does_not_fit_is_refused_with_the_reason(model_files, change, message):
    given = json.loads(json.dumps(IRIS_SIGNATURE))
    change(given)
    with pytest.raises(SignatureError, match=message):
        importer.import_bytes(model_files["iris"].read_bytes(), sig.Signature.from_dict(given))


def test_the_cli_refuses_a_bad_signature_file_cleanly(model_files, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"inputs": [{"name": "X", "type": "text"}], "outputs": []}))
    done = run_cli(
        tmp_path,
        "model",
        "import",
        str(model_files["iris"]),
        "--signature",
        str(path),
        check=False,
    )
    assert done.returncode == 1 and "signature" in done.stderr and "Traceback" not in done.stderr
    assert cli_json(tmp_path, "model", "list") == []


@pytest.mark.parametrize(
    ("suffix", "text", "reason"),
    [
        (".json", "[" * 50_000 + "]" * 50_000, "deeper than 32"),  # was a RecursionError
        (".yaml", laughs(9), "YAML aliases"),  # was 15 s and 3.3 GB
    ],
)
def test_the_cli_refuses_a_hostile_signature_file_quickly(
    model_files, tmp_path, suffix, text, reason
):
    path = tmp_path / f"hostile{suffix}"
    path.write_text(text)
    args = ("model", "import", str(model_files["iris"]), "--signature", str(path))
    done = run_cli(tmp_path, *args, check=False)
    assert done.returncode == 1 and reason in done.stderr and "Traceback" not in done.stderr


def _reader(op: str, **attributes: Any) -> onnx.ModelProto:
    """x, z [N, 2] -> y: `op` (ai.onnx.ml) reads x; z is only added."""
    nodes = [
        helper.make_node(op, ["x"], ["read"], domain="ai.onnx.ml", **attributes),
        helper.make_node("Add", ["read", "z"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "reader",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [None, 2]) for n in ("x", "z")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("ai.onnx.ml", 3)]
    )


@pytest.mark.parametrize(
    ("model", "missing"),
    [
        (_reader("Imputer", imputed_value_floats=[0.0], replaced_value_float=float("nan")), True),
        (_reader("Imputer", imputed_value_floats=[1.0]), False),  # it replaces 0, not NaN
        (_reader("Normalizer"), False),
    ],
)
def test_inputs_read_by_a_node_made_for_nan_take_missing_values(model, missing):
    found = {f.name: f.missing for f in importer.infer(model).inputs}
    assert found == {"x": missing, "z": False}


def test_a_tree_ensemble_reads_its_inputs_with_missing_values(model_files):
    raw = model_files["iris"].read_bytes()
    tree = onnx.load_from_string(raw)
    (x,) = [f for f in importer.infer(tree).inputs]
    assert not x.missing  # a logistic regression: NaN would only spread
    regressor = _reader(
        "TreeEnsembleRegressor",
        n_targets=1,
        nodes_treeids=[0],
        nodes_nodeids=[0],
        nodes_featureids=[0],
        nodes_modes=["LEAF"],
        nodes_values=[0.0],
        nodes_truenodeids=[0],
        nodes_falsenodeids=[0],
        target_treeids=[0],
        target_nodeids=[0],
        target_ids=[0],
        target_weights=[1.0],
    )
    assert {f.name: f.missing for f in importer.infer(regressor).inputs} == {"x": True, "z": False}


@pytest.mark.parametrize("suffix", [".joblib", ".pkl"])
def test_a_pickled_pipeline_is_named_for_what_it_is(tmp_path, suffix):
    import pickle

    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(x, y)
    path = tmp_path / f"model{suffix}"
    if suffix == ".joblib":
        joblib.dump(model, path)
    else:
        path.write_bytes(pickle.dumps(model))
    done = run_cli(tmp_path / "data", "model", "import", str(path), "--json", check=False)
    assert done.returncode == 1
    message = json.loads(done.stderr)["errorMessage"]
    assert "pickled Python object" in message and "importers.sklearn.save" in message
    assert "Wire format" not in message
