"""Each limit reached through real HTTP against a real server (rate limits in memory)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import models
from tests.support import Server, bearer, cli_env, cli_json, run_cli, wait_for

ROW = {"Type": "animal", "Sound": "woof", "Size": 0.8}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, Path]
) -> Iterator[dict[str, Any]]:
    """A server whose plan bounds each model's queue at 1000 rows and flushes usage often."""
    data_dir = tmp_path_factory.mktemp("limits")
    env = cli_env(
        data_dir, FORWARDPASS_MAX_QUEUE_ROWS="1000", FORWARDPASS_USAGE_FLUSH_SECONDS="0.2"
    )
    cli_json(data_dir, "model", "import", str(model_files["demo"]), "--name", "demo", env=env)
    slow = models.slow_model(data_dir / "slow.onnx")
    cli_json(data_dir, "model", "import", str(slow), "--name", "slow", env=env)
    running = Server(data_dir, env=env)
    yield {"server": running, "data_dir": data_dir, "env": env}
    running.stop()


def deploy(server: dict[str, Any], model: str = "demo", *limits: str) -> dict[str, Any]:
    """A new deployment with `limits`, once the server answers it (one empty request)."""
    data_dir, env = server["data_dir"], server["env"]
    found = cli_json(data_dir, "deployment", "create", model, "--disabled", env=env)
    if limits:
        cli_json(data_dir, "deployment", "update", found["id"], *limits, env=env)
    cli_json(data_dir, "deployment", "enable", found["id"], env=env)
    found["url"] = server["server"].url(found["id"])
    found["headers"] = bearer(found["token"])
    # Enabled after its limits were set: once it answers, the server has its limits.
    wait_for(
        lambda: (
            httpx.post(found["url"], json={"rows": []}, headers=found["headers"]).status_code == 200
        )
    )
    return found


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["errorCode"] == code, body
    assert response.headers["content-type"] == "application/json"
    return body


def test_a_body_over_the_limit_is_refused_whatever_its_form(server: dict[str, Any]) -> None:
    d = deploy(server, "demo", "--max-body-bytes", "1000")
    fat = {"rows": [ROW] * 40}  # about 1.6 kB of JSON
    r = httpx.post(d["url"], json=fat, headers=d["headers"])
    assert "1000 bytes" in assert_error(r, 413, "PayloadTooLarge")["errorMessage"]

    def chunked() -> Iterator[bytes]:  # no Content-Length: cut off while it streams
        yield b'{"rows": ['
        for _ in range(100):
            yield b'{"Type": "animal", "Sound": "woof", "Size": 0.8},'

    headers = {**d["headers"], "Content-Type": "application/json"}
    r = httpx.post(d["url"], content=chunked(), headers=headers)
    assert_error(r, 413, "PayloadTooLarge")

    form = {"Type": "animal", "Sound": "woof" * 500, "Size": "0.8"}
    r = httpx.post(d["url"], files={k: (None, v) for k, v in form.items()}, headers=d["headers"])
    assert_error(r, 413, "PayloadTooLarge")
    small = httpx.post(d["url"], json={"rows": [ROW]}, headers=d["headers"])
    assert small.status_code == 200, small.text


def test_too_many_rows_names_the_limit(server: dict[str, Any]) -> None:
    d = deploy(server, "demo", "--max-rows", "3")
    r = httpx.post(d["url"], json={"rows": [ROW] * 4}, headers=d["headers"])
    body = assert_error(r, 413, "PayloadTooLarge")
    assert "limit of 3 rows" in body["errorMessage"]
    ok = httpx.post(d["url"], json={"rows": [ROW] * 3}, headers=d["headers"])
    assert ok.status_code == 200, ok.text


def test_over_the_rate_is_429_with_retry_after(server: dict[str, Any]) -> None:
    d = deploy(server, "demo", "--rate", "0.5", "--burst", "3")  # deploy() takes one
    with httpx.Client(headers=d["headers"]) as client:
        answers = [client.post(d["url"], json={"rows": [ROW]}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429], answers[-1].text
    body = assert_error(answers[-1], 429, "RateLimited")
    assert "0.5 requests a second" in body["errorMessage"]
    # One token every 2 s: the next request would be accepted within 2 whole seconds.
    assert answers[-1].headers["Retry-After"] in ("1", "2")

    # Raising the rate on the running server takes effect within a second.
    run_cli(server["data_dir"], "deployment", "update", d["id"], "--rate", "1000")
    changed = time.monotonic()
    wait_for(
        lambda: httpx.post(d["url"], json={"rows": [ROW]}, headers=d["headers"]).status_code == 200,
        timeout=3,
    )
    assert time.monotonic() - changed < 1.5  # one registry refresh (0.5 s) and a request

    # Usage: every request counted, the refused ones by errorCode (flushed every 0.2 s here).
    time.sleep(0.5)
    usage = cli_json(server["data_dir"], "deployment", "show", d["id"])["usage"]
    # deploy() polls until the server has the deployment enabled: those polls may have met
    # it still disabled, and one of them was answered (with no rows).
    errors = dict(usage["errors"])
    waited = errors.pop("DeploymentNotEnabled", 0)
    refused = errors.pop("RateLimited")
    assert errors == {} and refused >= 1
    assert usage["rows"] == usage["requests"] - refused - waited - 1


def test_a_full_queue_is_503_at_once(server: dict[str, Any]) -> None:
    d = deploy(server, "slow")
    rows = {"rows": [{"x": 1.0}] * 1000}  # one call takes a model about 0.15 s

    def call(_: int) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        r = httpx.post(d["url"], json=rows, headers=d["headers"], timeout=60)
        return r, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(8)))
    statuses = sorted(r.status_code for r, _ in answers)
    assert 200 in statuses and 503 in statuses, statuses
    assert set(statuses) == {200, 503}
    for r, _ in answers:
        if r.status_code == 503:
            body = assert_error(r, 503, "Overloaded")
            assert r.headers["Retry-After"] == "1"
            assert "rows are waiting" in body["errorMessage"]
    fastest_ok = min(s for r, s in answers if r.status_code == 200)
    assert max(s for r, s in answers if r.status_code == 503) < fastest_ok * 2


def test_limits_show_in_the_cli(server: dict[str, Any]) -> None:
    data_dir = server["data_dir"]
    d = cli_json(data_dir, "deployment", "create", "demo", "--disabled")
    shown = cli_json(data_dir, "deployment", "update", d["id"], "--max-rows", "7")
    plan = dict.fromkeys(("max_body_bytes", "max_rows", "rate", "burst", "run_timeout"))
    assert shown["limits"] == {**plan, "max_rows": 7}
    assert shown["effective_limits"]["max_rows"] == 7
    assert shown["effective_limits"]["max_body_bytes"] == 32 * 1024 * 1024
    back = cli_json(data_dir, "deployment", "update", d["id"], "--plan-limits", "--rate", "5")
    assert back["limits"] == {**plan, "rate": 5}
    text = run_cli(data_dir, "deployment", "show", d["id"]).stdout
    assert "max_rows 10000 (plan)" in text and "rate 5.0," in text
    assert "0 requests, 0 rows, errors: none" in text
    nothing = run_cli(data_dir, "deployment", "update", d["id"], check=False)
    assert nothing.returncode != 0 and "nothing to update" in nothing.stderr
