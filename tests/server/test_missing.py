"""Missing values over HTTP: `null` reaches a model that handles it as NaN, and only such a
model; one server for the module."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from forwardpass.client import Deployment
from forwardpass.importers import sklearn as importer
from tests import models
from tests.support import Server, bearer, cli_json

pytestmark = pytest.mark.slow

FRAME = pd.DataFrame(
    {
        "a": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0],
        "b": [0.5, np.nan, 1.5, 2.0, 2.5, 9.0],
        "c": [3.0, 1.0, 2.0, 5.0, 4.0, 0.0],
    }
)
TARGET = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 7.0])


def _pipeline() -> Pipeline:
    impute = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    columns = ColumnTransformer([("ab", impute, ["a", "b"]), ("c", "passthrough", ["c"])])
    return Pipeline([("columns", columns), ("model", LinearRegression())]).fit(FRAME, TARGET)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    data_dir = tmp_path_factory.mktemp("missing")
    pipeline = _pipeline()
    importer.save(pipeline, FRAME, data_dir / "imputed.onnx", target="y")
    plain = models.scaled(data_dir / "plain.onnx", 1.0)
    signature = data_dir / "signature.json"
    signature.write_text(
        json.dumps(
            {
                "inputs": [{"name": "x", "type": "numeric", "shape": [2], "missing": True}],
                "outputs": [{"name": "y", "type": "numeric", "shape": [2]}],
            }
        )
    )
    found: dict[str, Any] = {"pipeline": pipeline}
    for key, path, extra in (
        ("imputed", data_dir / "imputed.onnx", ()),
        ("plain", plain, ()),
        ("declared", plain, ("--signature", str(signature))),
    ):
        cli_json(data_dir, "model", "import", str(path), "--name", key, *extra)
        found[key] = cli_json(data_dir, "deployment", "create", key)
    running = Server(data_dir)
    for key in ("imputed", "plain", "declared"):
        found[key]["url"] = running.url(found[key]["id"])
    yield found
    running.stop()


def _post(deployment: dict[str, Any], rows: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(deployment["url"], json={"rows": rows}, headers=bearer(deployment["token"]))


def _spec(deployment: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.get(
        urljoin(deployment["url"], "openapi.json"), headers=bearer(deployment["token"])
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["components"]["schemas"]["input-row"]["properties"]


def test_null_reaches_an_imputing_pipeline_as_nan(server):
    rows = [{"a": None, "b": 2.0, "c": 1.0}, {"a": 3.0, "b": None, "c": 2.0}]
    answer = _post(server["imputed"], rows)
    assert answer.status_code == 200, answer.text
    expected = server["pipeline"].predict(pd.DataFrame(rows, dtype=float))
    got = [row["y"] for row in answer.json()["rows"]]
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_an_empty_form_field_is_missing_too(server):
    imputed = server["imputed"]
    answer = httpx.post(
        imputed["url"], data={"a": "", "b": "2", "c": "1"}, headers=bearer(imputed["token"])
    )
    assert answer.status_code == 200, answer.text
    expected = server["pipeline"].predict(pd.DataFrame([{"a": np.nan, "b": 2.0, "c": 1.0}]))
    np.testing.assert_allclose(answer.json()["y"], expected[0], rtol=1e-4)


def test_a_feature_without_missing_support_still_refuses_null(server):
    # "c" goes to the model as it is: no imputer reads it.
    answer = _post(server["imputed"], [{"a": 1.0, "b": 2.0, "c": 1.0}, {"a": 1, "b": 2, "c": None}])
    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "JsonPropertyTypeMismatch"
    message = answer.json()["errorMessage"]
    assert "row 1" in message and "'c'" in message and "null" in message
    plain = _post(server["plain"], [{"x": None}])
    assert plain.status_code == 400
    assert "row 0" in plain.json()["errorMessage"] and "'x'" in plain.json()["errorMessage"]
    nan_in_data = _post(server["plain"], [{"x": {"shape": [2], "data": [1.0, None]}}])
    assert nan_in_data.status_code == 400


def test_the_spec_says_nullable_where_null_is_accepted(server):
    imputed = _spec(server["imputed"])
    assert imputed["a"]["nullable"] is True and imputed["b"]["nullable"] is True
    assert "nullable" not in imputed["c"]
    assert "nullable" not in _spec(server["plain"])["x"]
    assert _spec(server["declared"])["x"]["nullable"] is True


def test_a_signature_file_declares_missing_values(server):
    answer = _post(server["declared"], [{"x": None}, {"x": {"shape": [2], "data": [1.5, None]}}])
    assert answer.status_code == 200, answer.text
    # The model multiplies by one: NaN goes through, and JSON writes it as null.
    assert [row["y"]["data"] for row in answer.json()["rows"]] == [[None, None], [1.5, None]]


def test_the_client_sends_none_and_pandas_nan_as_null(server):
    imputed = server["imputed"]
    client = Deployment(imputed["url"], imputed["token"])
    assert client.predict(a=None, b=2.0, c=1.0)["y"] == pytest.approx(
        server["pipeline"].predict(pd.DataFrame([{"a": np.nan, "b": 2.0, "c": 1.0}]))[0],
        rel=1e-4,
    )
    frame = pd.DataFrame({"a": [np.nan, 2.0], "b": [1.0, np.nan], "c": [1.0, 2.0]})
    answers = client.predict_many(frame)
    np.testing.assert_allclose(
        answers["y"].to_numpy(), server["pipeline"].predict(frame), rtol=1e-4
    )
