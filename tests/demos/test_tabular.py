"""`forwardpass demo`: trains, deploys, prints a working curl command, and serves."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from forwardpass.demos.tabular import EXAMPLE_ROWS
from tests.support import bearer, cli_env, cli_json, free_port, wait_for


def start_demo(data_dir: Path, port: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "forwardpass", "demo", "--port", str(port), "--json"],
        env=cli_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.mark.slow
def test_demo_serves_the_contract_example_and_reuses_its_deployment(tmp_path):
    port = free_port()
    process, first = start_demo(tmp_path, port)
    try:
        assert {"url", "token", "deployment_id", "curl"} <= set(first)
        assert (
            first["url"] == f"http://127.0.0.1:{port}/deployment/{first['deployment_id']}/forward"
        )
        wait_for(lambda: _ready(port), timeout=30)
        # The printed curl command, run as printed, answers the model's own numbers.
        done = subprocess.run(
            ["bash", "-c", first["curl"]], capture_output=True, text=True, timeout=30, check=True
        )
        rows = json.loads(done.stdout)["rows"]
    finally:
        stop(process)
    model_path = next((tmp_path / "models").rglob("*.onnx"))
    feeds = {
        "Type": np.array([[r["Type"]] for r in EXAMPLE_ROWS], dtype=object),
        "Sound": np.array([[r["Sound"]] for r in EXAMPLE_ROWS], dtype=object),
        "Size": np.array([[r["Size"]] for r in EXAMPLE_ROWS], dtype=np.float32),
    }
    expected = ort.InferenceSession(str(model_path)).run(None, feeds)[0].reshape(-1)
    np.testing.assert_allclose([r["Weight"] for r in rows], expected, rtol=1e-5)

    process, second = start_demo(tmp_path, port)
    try:
        # The same deployment and token: what a user wired to the first run keeps working.
        assert second["deployment_id"] == first["deployment_id"]
        assert second["token"] == first["token"]
        wait_for(lambda: _ready(port), timeout=30)
        body = {"rows": EXAMPLE_ROWS}
        assert (
            httpx.post(second["url"], json=body, headers=bearer(first["token"])).status_code == 200
        )
    finally:
        stop(process)
    kept = next(tmp_path.glob("*.token"))
    assert kept.stat().st_mode & 0o777 == 0o600

    # A token rotated by hand is not brought back: the demo makes a new one.
    rotated = cli_json(tmp_path, "deployment", "rotate-token", first["deployment_id"])
    process, third = start_demo(tmp_path, port)
    try:
        assert third["token"] not in (first["token"], rotated["token"])
        wait_for(lambda: _ready(port), timeout=30)
        assert (
            httpx.post(third["url"], json=body, headers=bearer(third["token"])).status_code == 200
        )
    finally:
        stop(process)


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_make_demo_installs_the_runtime_only(tmp_path):
    """`make demo` on a fresh clone installs what serving needs, not the development tools
    (torch alone is gigabytes)."""
    root = Path(__file__).parents[2]
    planned = subprocess.run(
        ["make", "-n", "-C", str(root), "demo", f"VENV={tmp_path / 'venv'}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installs = [line for line in planned.splitlines() if "pip install" in line]
    assert installs and not any("dev" in line or "torch" in line for line in installs), planned
    runtime = tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    heavy = ("torch", "playwright", "mypy", "schemathesis", "py-spy", "transformers")
    assert not [d for d in runtime if d.split(">")[0].split("=")[0].split("[")[0] in heavy]
