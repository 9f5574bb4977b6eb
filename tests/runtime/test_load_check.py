"""Models ONNX Runtime cannot load (runtime/load_check.py): refused at import with the runtime's
reason; one stored anyway (before the check, or that this machine cannot load) answers why,
in predictions, /readyz, the API, the page and `deployment show`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from forwardpass.importers import onnx as importer
from tests import models
from tests.support import Server, bearer, cli_env, cli_json, run_cli
from tests.web.test_session import login

pytestmark = pytest.mark.slow

ADMIN = "load-check-admin-token-0123456789"

HOSTILE = {
    "custom op": (models.custom_op, "com.example.hostile:Frobnicate(-1) is not a registered"),
    "2 GiB claimed": (models.huge_tensor, "does not match expected size from shape"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_import_refuses_what_onnx_runtime_cannot_load(tmp_path, case):
    build, reason = HOSTILE[case]
    path = build(tmp_path / "hostile.onnx")
    done = run_cli(tmp_path, "model", "import", str(path), "--name", "hostile", check=False)
    assert done.returncode == 1, done.stdout
    assert "ONNX Runtime cannot load the model" in done.stderr and reason in done.stderr
    assert "Traceback" not in done.stderr
    assert cli_json(tmp_path, "model", "list") == []


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server with a deployment whose stored model file ONNX Runtime cannot load (as an
    older forwardpass stored it, before the import checked), and a good one."""
    data_dir = tmp_path_factory.mktemp("broken")
    good = models.scaled(data_dir / "good.onnx", 2.0, width=1)
    imported = cli_json(data_dir, "model", "import", str(good), "--name", "good")
    cli_json(data_dir, "model", "import", str(good), "--name", "broken")
    found = {key: cli_json(data_dir, "deployment", "create", key) for key in ("good", "broken")}
    stored = data_dir / "models" / imported["sha256"][:2] / f"{imported['sha256']}.onnx"
    # Same input and output as the good model, so the stored signature fits it.
    hostile = models.custom_op(data_dir / "custom.onnx").read_bytes()
    stored.write_bytes(importer.import_bytes(hostile))
    # "good" shares the file: give it another one.
    other = cli_json(
        data_dir,
        "model",
        "import",
        str(models.scaled(data_dir / "g3.onnx", 3.0, 1)),
        "--name",
        "good",
    )
    run_cli(data_dir, "deployment", "update", found["good"]["id"], "--model", other["ref"])
    server = Server(data_dir, env=cli_env(data_dir, FORWARDPASS_ADMIN_TOKEN=ADMIN))
    yield {"server": server, "data_dir": data_dir, **found}
    server.stop()


def predict(server: Server, deployment: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        server.url(deployment["id"]),
        json={"rows": [{"x": 1.0}]},
        headers=bearer(deployment["token"]),
    )


def test_a_model_that_fails_to_load_says_so_everywhere(broken):
    server, d = broken["server"], broken["broken"]
    reason = "com.example.hostile:Frobnicate(-1) is not a registered"
    answer = httpx.post(
        server.url(d["id"]), json={"rows": [{"x": 1.0}]}, headers=bearer(d["token"])
    )
    assert answer.status_code == 503, answer.text  # it was 404 "no deployment"
    assert answer.json()["errorCode"] == "ModelNotLoaded"
    assert reason in answer.json()["errorMessage"]
    good = broken["good"]
    ok = httpx.post(
        server.url(good["id"]), json={"rows": [{"x": 1.0}]}, headers=bearer(good["token"])
    )
    assert ok.status_code == 200 and ok.json() == {"rows": [{"y": 3.0}]}

    ready = httpx.get(f"{server.base}/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "degraded"
    assert list(ready.json()["failed"]) == [d["id"]] and reason in ready.json()["failed"][d["id"]]

    shown = httpx.get(f"{server.base}/api/v1/deployments/{d['id']}", headers=bearer(ADMIN))
    assert reason in shown.json()["load_error"]
    other = httpx.get(f"{server.base}/api/v1/deployments/{good['id']}", headers=bearer(ADMIN))
    assert other.json()["load_error"] is None

    with httpx.Client(base_url=server.base) as http:
        login(http, {"admin": ADMIN})
        page = http.get(f"/deployments/{d['id']}")
        assert page.status_code == 200 and 'id="load-error"' in page.text and reason in page.text

    cli = cli_json(broken["data_dir"], "deployment", "show", d["id"])
    assert reason in cli["load_error"]
    text = run_cli(broken["data_dir"], "deployment", "show", d["id"]).stdout
    assert "load_error" in text and "Frobnicate" in text
