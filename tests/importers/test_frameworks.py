"""The models people bring, end to end: XGBoost, LightGBM and CatBoost files, MLflow folders
and saved pipelines, imported through the command line, deployed on one real server and
called over HTTP; their answers are the frameworks' own.

The commands run in process (a subprocess each would cost seconds of imports for the same
code path); the server is a real `forwardpass serve`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import catboost as cb
import httpx
import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner, Result

from forwardpass.cli import app
from tests.support import Server, bearer, cli_env, wait_for

pytestmark = pytest.mark.slow

ADMIN = "frameworks-admin-token-0123456789"
FRAMEWORKS = ("xgboost", "lightgbm", "catboost")
TASKS = ("regressor", "binary", "multiclass")
#: Breast cancer's classes as the operator names them (XGBoost and LightGBM keep none).
CANCER = ("malignant", "benign")


def cli(data_dir: Path, *args: str) -> Result:
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FORWARDPASS_")}
    env = {**cleared, "FORWARDPASS_DATA_DIR": str(data_dir)}
    return CliRunner().invoke(app, [*args, "--json"], env=env)


def ok(result: Result) -> Any:
    import json

    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def data(task: str) -> tuple[pd.DataFrame, np.ndarray]:
    load = {"regressor": load_diabetes, "binary": load_breast_cancer, "multiclass": load_iris}
    x, y = load[task](return_X_y=True, as_frame=True)
    # LightGBM writes a name's spaces as underscores; names without any stay as they are.
    x.columns = [c.replace(" ", "_") for c in x.columns]
    return x.iloc[::3].reset_index(drop=True), np.asarray(y)[::3]


def train(framework: str, task: str, folder: Path) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """The model saved in its framework's own format, the rows to ask and its answers."""
    x, y = data(task)
    rows = x.head(12)
    regress = task == "regressor"
    if framework == "xgboost":
        kind = xgb.XGBRegressor if regress else xgb.XGBClassifier
        model: Any = kind(n_estimators=4, max_depth=3).fit(x, y)
        path = folder / f"{task}.{'json' if task != 'binary' else 'ubj'}"
        model.save_model(path)
    elif framework == "lightgbm":
        kind = lgb.LGBMRegressor if regress else lgb.LGBMClassifier
        model = kind(n_estimators=4, num_leaves=7, verbose=-1).fit(x, y)
        path = folder / f"{task}.txt"
        model.booster_.save_model(path)
    else:
        kind = cb.CatBoostRegressor if regress else cb.CatBoostClassifier
        labels = np.array(CANCER)[y] if task == "binary" else y  # CatBoost keeps labels
        model = kind(
            iterations=4, depth=3, verbose=0, thread_count=1, allow_writing_files=False
        ).fit(x, labels)
        path = folder / f"{task}.cbm"
        model.save_model(str(path))
    answers = model.predict(rows) if regress else model.predict_proba(rows)
    return path, rows, np.asarray(answers)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every framework's three models imported and deployed, on one server."""
    root = tmp_path_factory.mktemp("frameworks")
    data_dir = root / "data"
    found: dict[str, Any] = {"data_dir": data_dir, "root": root}
    for framework in FRAMEWORKS:
        folder = root / framework
        folder.mkdir()
        for task in TASKS:
            path, rows, answers = train(framework, task, folder)
            name = f"{framework}-{task}"
            extra = ["--labels", ",".join(CANCER)] if task == "binary" else []
            if framework == "catboost":
                extra = []
            model = ok(cli(data_dir, "model", "import", str(path), "--name", name, *extra))
            deployment = ok(cli(data_dir, "deployment", "create", name))
            found[name] = {
                "model": model,
                "deployment": deployment,
                "rows": rows,
                "answers": answers,
            }
    env = cli_env(data_dir, FORWARDPASS_ADMIN_TOKEN=ADMIN)
    server = Server(data_dir, env=env)
    found["server"] = server
    yield found
    server.stop()


def predict(world: Any, deployment: dict[str, Any], rows: list[dict[str, Any]]) -> list[Any]:
    def answer() -> httpx.Response | None:
        response = httpx.post(
            world["server"].url(deployment["id"]),
            json={"rows": rows},
            headers=bearer(deployment["token"]),
            timeout=30,
        )
        return None if response.status_code == 404 else response  # not yet refreshed

    response = wait_for(answer, timeout=10)
    assert response.status_code == 200, response.text
    return list(response.json()["rows"])


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("task", TASKS)
def test_a_boosted_model_answers_over_http_as_its_framework_does(world, framework, task):
    case = world[f"{framework}-{task}"]
    rows, answers = case["rows"], case["answers"]
    inputs = case["model"]["signature"]["inputs"]
    assert [f["name"] for f in inputs] == list(rows.columns)  # the model's own names
    got = predict(world, case["deployment"], rows.to_dict("records"))
    if task == "regressor":
        values = np.array([row["prediction"] for row in got], dtype=np.float64)
        np.testing.assert_allclose(values, answers, rtol=1e-4, atol=1e-4)
        return
    labels = list(CANCER) if task == "binary" else ["0", "1", "2"]
    if framework == "catboost" and task == "binary":
        labels = sorted(CANCER)  # CatBoost orders its own labels
    for row, expected in zip(got, answers, strict=True):
        scores = row["prediction"]
        assert list(scores) == labels  # a label-to-score object, in the model's order
        np.testing.assert_allclose(list(scores.values()), expected, rtol=1e-4, atol=1e-5)


def test_the_management_api_takes_a_booster_file(world):
    path, _rows, _answers = train("xgboost", "multiclass", world["root"])
    with path.open("rb") as file:
        response = httpx.post(
            f"{world['server'].base}/api/v1/models",
            files={"file": (path.name, file)},
            data={"name": "uploaded"},
            headers=bearer(ADMIN),
            timeout=120,
        )
    assert response.status_code == 201, response.text
    output = response.json()["signature"]["outputs"][0]
    assert (output["type"], output["categories"]) == ("categorical", ["0", "1", "2"])
    # a damaged file is the framework's own error, as a 400, never a crash of the server
    damaged = httpx.post(
        f"{world['server'].base}/api/v1/models",
        files={"file": ("broken.cbm", b"CBM1" + bytes(range(256)) * 4)},
        headers=bearer(ADMIN),
        timeout=120,
    )
    assert damaged.status_code == 400, damaged.text
    assert "not a CatBoost model" in damaged.json()["errorMessage"]
    assert httpx.get(f"{world['server'].base}/readyz", timeout=10).status_code == 200


def pipeline_file(folder: Path) -> tuple[Path, pd.DataFrame, np.ndarray]:
    x, y = data("multiclass")
    model = LogisticRegression(max_iter=500).fit(
        x, np.array(["setosa", "versicolor", "virginica"])[y]
    )
    path = folder / "pipeline.joblib"
    joblib.dump(model, path)
    return path, x.head(5), model.predict_proba(x.head(5))


def test_a_pickle_needs_the_flag_on_the_command_line_and_is_never_taken_over_http(world):
    path, rows, answers = pipeline_file(world["root"])
    refused = cli(world["data_dir"], "model", "import", str(path), "--name", "pickled")
    assert refused.exit_code == 1
    assert "--trust-pickle" in refused.output and "pickled Python object" in refused.output

    with path.open("rb") as file:
        response = httpx.post(
            f"{world['server'].base}/api/v1/models",
            files={"file": (path.name, file)},
            data={"name": "pickled"},
            headers=bearer(ADMIN),
            timeout=30,
        )
    assert response.status_code == 400
    assert "never taken over the network" in response.json()["errorMessage"]
    # under another name too: the bytes say what it is
    response = httpx.post(
        f"{world['server'].base}/api/v1/models",
        files={"file": ("innocent.json", path.read_bytes())},
        headers=bearer(ADMIN),
        timeout=30,
    )
    assert response.status_code == 400, response.text

    model = ok(
        cli(world["data_dir"], "model", "import", str(path), "--name", "pickled", "--trust-pickle")
    )
    assert model["signature"]["outputs"][0]["categories"] == ["setosa", "versicolor", "virginica"]
    deployment = ok(cli(world["data_dir"], "deployment", "create", "pickled"))
    got = predict(world, deployment, rows.to_dict("records"))
    for row, expected in zip(got, answers, strict=True):
        np.testing.assert_allclose(list(row["prediction"].values()), expected, atol=1e-4)


def test_a_conversion_that_answers_differently_is_refused_with_the_difference(world):
    # onnxmltools ignores the linear models in the leaves of a linear_tree LightGBM model.
    x, y = data("regressor")
    model = lgb.LGBMRegressor(n_estimators=4, linear_tree=True, verbose=-1).fit(x, y)
    path = world["root"] / "linear.txt"
    model.booster_.save_model(path)
    refused = cli(world["data_dir"], "model", "import", str(path), "--name", "linear")
    assert refused.exit_code == 1
    assert "does not answer as the original" in refused.output
    assert "largest difference" in refused.output
    assert "linear" not in ok(cli(world["data_dir"], "model", "list"))[-1]["name"]


def test_labels_that_do_not_fit_the_classes_are_refused(world):
    path, _rows, _answers = train("lightgbm", "multiclass", world["root"])
    refused = cli(world["data_dir"], "model", "import", str(path), "--labels", "a,b")
    assert refused.exit_code == 1 and "3 classes" in refused.output


FLAVORS = ("sklearn", "xgboost", "lightgbm", "catboost", "onnx")


def mlflow_folder(flavor: str, folder: Path) -> tuple[Path, pd.DataFrame, np.ndarray]:
    """An MLflow model folder of `flavor`, saved by mlflow with its signature and example."""
    import mlflow.models

    x, y = data("multiclass")
    x.columns = [c.replace("_(cm)", "").replace("_", " ") for c in x.columns]  # spaces kept
    example = x.head(2)
    path = folder / f"mlflow-{flavor}"
    if flavor == "onnx":
        from forwardpass.importers import sklearn as importer

        fitted: Any = LogisticRegression(max_iter=500).fit(x, y)
        saved: Any = importer.to_onnx(fitted, example)
    elif flavor == "sklearn":
        fitted = saved = LogisticRegression(max_iter=500).fit(x, y)
    elif flavor == "xgboost":
        fitted = saved = xgb.XGBClassifier(n_estimators=3, max_depth=2).fit(x, y)
    elif flavor == "lightgbm":
        fitted = lgb.LGBMClassifier(n_estimators=3, num_leaves=5, verbose=-1).fit(x, y)
        saved = fitted.booster_
    else:
        fitted = saved = cb.CatBoostClassifier(
            iterations=3, verbose=0, thread_count=1, allow_writing_files=False
        ).fit(x, y)
    signature = mlflow.models.infer_signature(example, fitted.predict_proba(example))
    module = __import__(f"mlflow.{flavor}", fromlist=["save_model"])
    # no pip_requirements inference: it imports every package to look up versions
    module.save_model(
        saved, str(path), signature=signature, input_example=example, pip_requirements=[]
    )
    return path, x.head(6), fitted.predict_proba(x.head(6))


# mlflow compares a frame's string column index with a range, which pandas deprecates.
@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")
@pytest.mark.filterwarnings("ignore:.*Any type hint:UserWarning")
@pytest.mark.parametrize("flavor", FLAVORS)
def test_an_mlflow_folder_brings_its_signature_and_example(world, flavor):
    path, rows, answers = mlflow_folder(flavor, world["root"])
    name = f"mlflow-{flavor}"
    model = ok(cli(world["data_dir"], "model", "import", str(path), "--name", name))
    inputs = model["signature"]["inputs"]
    assert [f["name"] for f in inputs] == list(rows.columns)
    assert [f["example"] for f in inputs] == list(rows.iloc[0])
    deployment = ok(cli(world["data_dir"], "deployment", "create", name))
    got = predict(world, deployment, rows.to_dict("records"))
    for row, expected in zip(got, answers, strict=True):
        scores = next(iter(row.values()))
        np.testing.assert_allclose(list(scores.values()), expected, rtol=1e-4, atol=1e-5)
    if flavor == "sklearn":  # the spec shows the MLflow example
        spec = httpx.get(
            f"{world['server'].base}/deployment/{deployment['id']}/openapi.json",
            headers=bearer(deployment["token"]),
            timeout=30,
        ).json()
        path_item = spec["paths"]["/deployment/{deploymentId}/forward"]["post"]
        shown = path_item["requestBody"]["content"]["application/json"]["example"]["rows"][0]
        assert shown == dict(rows.iloc[0])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore:.*Any type hint:UserWarning")
def test_an_mlflow_pytorch_model_needs_the_flag_and_answers_as_the_module(world):
    import mlflow.pytorch
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    x, _y = data("multiclass")
    rows = np.array(x.head(5).to_numpy(dtype=np.float32))  # writable, as torch wants
    path = world["root"] / "mlflow-pytorch"
    mlflow.pytorch.save_model(net, str(path), input_example=rows[:2], pip_requirements=[])
    refused = cli(world["data_dir"], "model", "import", str(path), "--name", "torchy")
    assert refused.exit_code == 1 and "--trust-pickle" in refused.output
    species = "setosa,versicolor,virginica"
    model = ok(
        cli(
            world["data_dir"],
            "model",
            "import",
            str(path),
            "--name",
            "torchy",
            "--trust-pickle",
            "--labels",
            species,
        )
    )
    (given,) = model["signature"]["inputs"]
    np.testing.assert_allclose(given["example"], rows[0], rtol=1e-6)
    deployment = ok(cli(world["data_dir"], "deployment", "create", "torchy"))
    got = predict(world, deployment, [{"input": list(map(float, r))} for r in rows])
    with torch.no_grad():
        expected = net(torch.tensor(rows)).numpy()
    for row, want in zip(got, expected, strict=True):
        assert list(row["prediction"]) == species.split(",")
        np.testing.assert_allclose(list(row["prediction"].values()), want, atol=1e-5)


def test_an_mlflow_flavor_without_a_converter_is_named(world):
    folder = world["root"] / "mlflow-prophet"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "flavors:\n  prophet: {data: model.pr}\n  python_function: {loader_module: x}\n"
    )
    refused = cli(world["data_dir"], "model", "import", str(folder))
    assert refused.exit_code == 1
    assert "prophet" in refused.output and "sklearn" in refused.output
