"""A deployment's own run timeout (its `run_timeout` limit) over the plan's
FORWARDPASS_RUN_TIMEOUT, through the management API against a real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import models
from tests.support import Server, bearer, cli_env, cli_json, wait_for

pytestmark = pytest.mark.slow

ADMIN = "test-admin-token-0123456789"
ROW = {"x": 1.0}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose plan lets a model call run 60 s, with a model that never ends."""
    data_dir = tmp_path_factory.mktemp("own-timeout")
    cli_json(data_dir, "model", "import", str(models.endless_loop(data_dir / "e.onnx")))
    env = cli_env(
        data_dir,
        FORWARDPASS_RUN_TIMEOUT="60",
        FORWARDPASS_ADMIN_TOKEN=ADMIN,
        FORWARDPASS_REFRESH_SECONDS="0.2",
    )
    running = Server(data_dir, env=env)
    yield running
    running.stop()


def api(server: Server, method: str, path: str, **kw: Any) -> httpx.Response:
    headers = {**bearer(ADMIN), **kw.pop("headers", {})}
    return httpx.request(method, f"{server.base}/api/v1{path}", headers=headers, timeout=30, **kw)


def post(server: Server, d: dict[str, Any], rows: list[Any], timeout: float = 30) -> httpx.Response:
    return httpx.post(
        server.url(d["id"]), json={"rows": rows}, headers=bearer(d["token"]), timeout=timeout
    )


def change(server: Server, d: dict[str, Any], limits: dict[str, Any]) -> dict[str, Any]:
    """Set `limits` and return once the server runs the deployment under them: disabled with
    them, seen disabled, enabled again, seen answering (an empty request runs no model)."""
    r = api(
        server, "PATCH", f"/deployments/{d['id']}", json={"limits": limits, "status": "disabled"}
    )
    assert r.status_code == 200, r.text
    wait_for(lambda: post(server, d, []).status_code != 200)
    r = api(server, "PATCH", f"/deployments/{d['id']}", json={"status": "enabled"})
    assert r.status_code == 200, r.text
    wait_for(lambda: post(server, d, []).status_code == 200)
    return dict(r.json())


def deploy(server: Server, run_timeout: float) -> dict[str, Any]:
    r = api(server, "POST", "/deployments", json={"model": "e", "enabled": False})
    assert r.status_code == 201, r.text
    d = dict(r.json())
    change(server, d, {"run_timeout": run_timeout})
    return d


def test_a_deployments_own_timeout_stops_its_model_before_the_plans(server: Server) -> None:
    d = deploy(server, 1)
    shown = api(server, "GET", f"/deployments/{d['id']}").json()
    assert shown["limits"]["run_timeout"] == 1 and shown["effective_limits"]["run_timeout"] == 1
    started = time.monotonic()
    r = post(server, d, [ROW])
    elapsed = time.monotonic() - started
    assert r.status_code == 504 and r.json()["errorCode"] == "ModelTimeout", r.text
    assert "run timeout (1 s)" in r.json()["errorMessage"]
    assert 1 <= elapsed < 4, elapsed  # not the plan's 60 s


@pytest.mark.parametrize(
    "bad",
    ["0", "-1", "1e-400", '"2"', "true", "[]"],
    ids=["0", "-1", "underflow", "str", "bool", "list"],
)
def test_a_nonsense_run_timeout_is_refused_and_changes_nothing(server: Server, bad: str) -> None:
    d = api(server, "POST", "/deployments", json={"model": "e", "enabled": False}).json()
    path = f"/deployments/{d['id']}"
    assert api(server, "PATCH", path, json={"limits": {"run_timeout": 5}}).status_code == 200
    r = api(
        server,
        "PATCH",
        path,
        content=f'{{"limits": {{"run_timeout": {bad}}}, "name": "changed"}}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["errorCode"] == "BadData", r.text
    assert "run_timeout" in r.json()["errorMessage"]
    after = api(server, "GET", path).json()
    assert after["limits"]["run_timeout"] == 5 and after["name"] == d["name"]


def test_a_batch_of_several_deployments_runs_under_the_longest_timeout(server: Server) -> None:
    short, long = deploy(server, 1), deploy(server, 3)
    answers: dict[str, tuple[httpx.Response, float]] = {}

    def send(key: str, d: dict[str, Any]) -> None:
        started = time.monotonic()
        answers[key] = (post(server, d, [ROW]), time.monotonic() - started)

    first = threading.Thread(target=send, args=("first", short))
    first.start()
    time.sleep(0.3)  # it holds the model: the next two queue and run as one batch
    queued = [
        threading.Thread(target=send, args=(key, d))
        for key, d in (("short", short), ("long", long))
    ]
    for thread in queued:
        thread.start()
    for thread in [first, *queued]:
        thread.join()
    assert "run timeout (1 s)" in answers["first"][0].json()["errorMessage"]
    for key in ("short", "long"):
        answer, elapsed = answers[key]
        assert answer.status_code == 504, answer.text
        # The short one's request too ran under the longer limit: none stopped before its own.
        assert "run timeout (3 s)" in answer.json()["errorMessage"]
        assert 3 <= elapsed < 7, (key, elapsed)


def test_null_goes_back_to_the_plans_timeout(server: Server) -> None:
    """Last in this module: it leaves a model call running (up to the plan's 60 s), so it
    kills the server (a graceful shutdown waits for the call to end)."""
    d = deploy(server, 1)
    change(server, d, {"run_timeout": None})
    shown = api(server, "GET", f"/deployments/{d['id']}").json()
    assert shown["limits"]["run_timeout"] is None
    assert shown["effective_limits"]["run_timeout"] == 60
    try:
        with pytest.raises(httpx.ReadTimeout):
            post(server, d, [ROW], timeout=2.5)  # well past its old 1 s
    finally:
        server.process.kill()
