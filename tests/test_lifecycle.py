"""A deployment's life through the CLI while a real server answers."""

from __future__ import annotations

import time

import httpx

from forwardpass.demos.tabular import EXAMPLE_ROWS
from tests.support import Server, bearer, cli_env, cli_json, run_cli, wait_for


def status_after(url: str, token: str, seconds: float) -> int:
    time.sleep(seconds)
    return httpx.post(url, json={"rows": EXAMPLE_ROWS}, headers=bearer(token)).status_code


def test_disable_enable_rotate_delete(served):
    data_dir, server = served["data_dir"], served["server"]
    created = cli_json(data_dir, "deployment", "create", "demo", "--name", "lifecycle")
    url, token = server.url(created["id"]), created["token"]
    assert created["status"] == "enabled"
    # A new deployment is picked up by the running server within a second.
    wait_for(
        lambda: (
            httpx.post(url, json={"rows": EXAMPLE_ROWS}, headers=bearer(token)).status_code == 200
        ),
        timeout=1.5,
    )

    cli_json(data_dir, "deployment", "disable", created["id"])
    time.sleep(1.0)
    response = httpx.post(url, json={"rows": EXAMPLE_ROWS}, headers=bearer(token))
    assert response.status_code == 403
    assert response.json()["errorCode"] == "DeploymentNotEnabled"

    shown = cli_json(data_dir, "deployment", "show", created["id"])
    assert shown["status"] == "disabled" and "token" not in shown

    cli_json(data_dir, "deployment", "enable", created["id"])
    assert status_after(url, token, 1.0) == 200

    rotated = cli_json(data_dir, "deployment", "rotate-token", created["id"])
    assert rotated["token"] != token and rotated["url"].endswith(f"/{created['id']}/forward")
    assert status_after(url, token, 1.0) == 401
    assert status_after(url, rotated["token"], 0) == 200

    refused = run_cli(data_dir, "deployment", "delete", created["id"], "--json", check=False)
    assert refused.returncode != 0
    assert "disable it before deleting" in refused.stderr
    assert status_after(url, rotated["token"], 0) == 200

    cli_json(data_dir, "deployment", "disable", created["id"])
    cli_json(data_dir, "deployment", "delete", created["id"])
    assert status_after(url, rotated["token"], 1.0) == 404
    listed = cli_json(data_dir, "deployment", "list")
    assert created["id"] not in [d["id"] for d in listed]


def test_cli_errors_are_clean(served):
    data_dir = served["data_dir"]
    for args in (
        ("deployment", "show", "00000000-0000-4000-8000-000000000000"),
        ("deployment", "enable", "nope"),
        ("deployment", "create", "no-such-model"),
    ):
        done = run_cli(data_dir, *args, check=False)
        assert done.returncode == 1
        assert "error:" in done.stderr and "Traceback" not in done.stderr
        as_json = run_cli(data_dir, *args, "--json", check=False)
        assert as_json.returncode == 1 and '"errorCode"' in as_json.stderr


def test_lists_as_text_and_json(served):
    data_dir = served["data_dir"]
    models = cli_json(data_dir, "model", "list")
    assert {"demo:1", "iris:1", "two:1", "tensor:1"} <= {m["ref"] for m in models}
    text = run_cli(data_dir, "deployment", "list").stdout
    assert served["demo"]["id"] in text and "enabled" in text
    assert served["demo"]["token"] not in text


def test_a_server_on_postgresql(tmp_path, postgres_url, model_files):
    env = cli_env(tmp_path, FORWARDPASS_DATABASE_URL=postgres_url)
    cli_json(tmp_path, "model", "import", str(model_files["demo"]), "--name", "weight", env=env)
    created = cli_json(tmp_path, "deployment", "create", "weight", env=env)
    server = Server(tmp_path, env=env)
    try:
        url, token = server.url(created["id"]), created["token"]
        assert status_after(url, token, 0) == 200
        cli_json(tmp_path, "deployment", "disable", created["id"], env=env)
        assert status_after(url, token, 1.0) == 403
    finally:
        server.stop()
