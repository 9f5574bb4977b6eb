"""The client against a real server: the sidekick names, batches, order, errors."""

from __future__ import annotations

import asyncio
import base64
import io
from urllib.parse import urljoin

import httpx
import numpy as np
import pandas as pd
import pytest

from forwardpass import errors
from forwardpass.client import AsyncDeployment, Deployment
from forwardpass.client.errors import BY_CODE, from_response
from tests.support import bearer, cli_json, wait_for

ROW = {"Type": "animal", "Sound": "woof", "Size": 0.9}


def tensor_rows(count: int) -> list[dict[str, np.ndarray]]:
    return [{"x": np.full((2, 3), float(i))} for i in range(count)]


def test_feature_specs_and_single_prediction(served):
    d = Deployment(served["demo"]["url"], served["demo"]["token"])
    assert [(f.name, f.dtype, f.shape) for f in d.feature_specs_in] == [
        ("Type", "categorical", (1,)),
        ("Sound", "categorical", (1,)),
        ("Size", "numeric", (1,)),
    ]
    assert d.feature_specs_in[0].categories == ("animal", "vehicle")
    assert [(f.name, f.dtype, f.shape) for f in d.feature_specs_out] == [
        ("Weight", "numeric", (1,))
    ]
    assert d.tensor_json is True
    answer = d.predict(**ROW)
    raw = httpx.post(d.url, json={"rows": [ROW]}, headers=bearer(served["demo"]["token"]))
    assert answer == raw.json()["rows"][0]


def test_many_and_lazy_keep_order_over_10000_rows_with_concurrency(served):
    t = served["tensor"]
    d = Deployment(t["url"], t["token"], batch_size=100, max_workers=4)
    answers = d.predict_many(tensor_rows(10_000))
    assert len(answers) == 10_000
    assert all(a["y"].shape == (2, 3) for a in answers)
    assert [a["y"][0, 0] for a in answers] == [2.0 * i for i in range(10_000)]
    lazy = d.predict_lazy(row for row in tensor_rows(1_000))  # a generator, read as it goes
    assert [next(lazy)["y"][1, 2] for _ in range(3)] == [0.0, 2.0, 4.0]
    assert [a["y"][0, 0] for a in lazy] == [2.0 * i for i in range(3, 1_000)]


def test_async_variant(served):
    t = served["tensor"]

    async def run() -> tuple[dict, list, list]:
        async with AsyncDeployment(t["url"], t["token"], batch_size=64, max_workers=3) as d:
            one = await d.predict(x=[[1, 2, 3], [4, 5, 6]])
            many = await d.predict_many(tensor_rows(1_000))
            lazy = [a async for a in d.predict_lazy(tensor_rows(200))]
        return one, many, lazy

    one, many, lazy = asyncio.run(run())
    assert one["y"].tolist() == [[2, 4, 6], [8, 10, 12]]
    assert [a["y"][0, 0] for a in many] == [2.0 * i for i in range(1_000)]
    assert [a["y"][0, 0] for a in lazy] == [2.0 * i for i in range(200)]


def test_dataframe_in_and_out(served):
    d = Deployment(served["demo"]["url"], served["demo"]["token"])
    frame = pd.DataFrame([ROW, {"Type": "vehicle", "Sound": "tchoo", "Size": 48.0}], index=[7, 9])
    out = d.predict_many(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.index) == [7, 9] and list(out.columns) == ["Weight"]
    assert out.loc[9, "Weight"] > out.loc[7, "Weight"]
    iris = Deployment(served["iris"]["url"], served["iris"]["token"])
    scores = iris.predict(X=np.array([5.1, 3.5, 1.4, 0.2], dtype=np.float32))
    assert max(scores["output_probability"], key=scores["output_probability"].get) == "setosa"


@pytest.mark.parametrize(
    ("row", "error", "words"),
    [
        ({"Type": "animal", "Sound": "woof"}, errors.FeatureNotFound, "row 3, feature 'Size'"),
        ({**ROW, "Colour": "red"}, errors.FeatureNotFound, "row 3, feature 'Colour'"),
        ({**ROW, "Size": "big"}, errors.JsonPropertyTypeMismatch, "row 3, feature 'Size'"),
        ({**ROW, "Type": "plant"}, errors.BadData, "row 3, feature 'Type': unknown category"),
    ],
)
def test_rows_are_checked_before_sending(served, row, error, words):
    d = Deployment(served["demo"]["url"], served["demo"]["token"], batch_size=2)
    with pytest.raises(error) as caught:
        d.predict_many([ROW, ROW, ROW, row])
    assert words in caught.value.message
    # The server says the same of the same row: client and server share the codecs.
    server = Deployment(served["demo"]["url"], served["demo"]["token"], validate=False)
    with pytest.raises(error) as answered:
        server.predict_many([ROW, ROW, ROW, row])
    assert answered.value.status == 400
    assert answered.value.message.split(":")[0] == caught.value.message.split(":")[0]


def test_each_error_code_is_its_exception_class(served):
    demo, tensor = served["demo"], served["tensor"]
    with pytest.raises(errors.InvalidTokenError) as caught:
        Deployment(demo["url"], "wrong")
    assert caught.value.status == 401
    with pytest.raises(errors.ResourceNotFound):
        Deployment(demo["url"].replace(demo["id"], "00000000-0000-0000-0000-000000000000"), "t")

    created = cli_json(served["data_dir"], "deployment", "create", "demo", "--disabled")
    url = served["server"].url(created["id"])
    spec = urljoin(url, "openapi.json")
    wait_for(lambda: httpx.get(spec, headers=bearer(created["token"])).status_code == 200)
    with pytest.raises(errors.DeploymentNotEnabled) as caught:
        Deployment(url, created["token"]).predict(**ROW)
    assert caught.value.status == 403

    raw = Deployment(tensor["url"], tensor["token"], validate=False, retries=0)
    with pytest.raises(errors.DataUriError):
        raw.predict(x="data:application/x.peltarion.npy;base64,!!")
    with pytest.raises(errors.BadData):
        raw.predict(x={"shape": [3, 2], "data": [0] * 6})
    with pytest.raises(errors.JsonPropertyTypeMismatch):
        raw.predict(x=True)
    with pytest.raises(errors.FeatureNotFound):
        raw.predict(y=1)
    with pytest.raises(errors.PayloadTooLarge) as caught:
        Deployment(tensor["url"], tensor["token"], batch_size=10_001).predict_many(
            tensor_rows(10_001)
        )
    assert caught.value.status == 413

    # What the client never sends, the server still answers; each maps to its class.
    for content, headers, error in [
        (b"{not json", {"Content-Type": "application/json"}, errors.JsonParsingError),
        (b"x", {"Content-Type": "text/plain"}, errors.UnsupportedContentType),
    ]:
        answer = httpx.post(
            demo["url"], content=content, headers={**bearer(demo["token"]), **headers}
        )
        found = from_response(answer.status_code, answer.content)
        assert type(found) is error and found.status == answer.status_code
    for code in ("InsufficientScopeTokenError", "RateLimited", "Overloaded", "InternalError"):
        assert BY_CODE[code].code == code


def test_progress_bar_on_stderr(served, capsys):
    d = Deployment(served["demo"]["url"], served["demo"]["token"])
    assert len(d.predict_many([ROW] * 300, progress=True)) == 300
    assert "300/300" in capsys.readouterr().err


def test_images_are_sent_as_data_uris(tmp_path):
    from PIL import Image

    from forwardpass.client.values import image_uri, to_json

    rgba = Image.new("RGBA", (4, 3), (255, 0, 0, 0))
    uri = image_uri(rgba, 0, "Image")
    assert uri.startswith("data:image/png;base64,")
    back = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert back.mode == "RGB" and back.size == (4, 3)  # alpha flattened onto white
    assert back.getpixel((0, 0)) == (255, 255, 255)
    assert to_json(np.zeros((2, 2), np.uint8), "image", (2, 2, 1), 0, "Image").startswith(
        "data:image/png;base64,"
    )
    Image.new("RGB", (5, 5), (0, 0, 255)).save(tmp_path / "blue.jpg")
    for given in (tmp_path / "blue.jpg", str(tmp_path / "blue.jpg")):
        assert to_json(given, "image", (5, 5, 3), 0, "Image").startswith("data:image/jpeg;base64,")
    with pytest.raises(errors.BadData, match="row 4, feature 'Image'"):
        to_json(tmp_path / "none.png", "image", (5, 5, 3), 4, "Image")
    assert to_json(np.float32(1.5), "numeric", (1,), 0, "Size") == 1.5
    assert to_json(np.ones((1, 2)), "numeric", (1, 2), 0, "x") == {"shape": [1, 2], "data": [1, 1]}
