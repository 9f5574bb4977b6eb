"""The model folder: one that cannot be written is a clean error, and what a killed import
leaves in it is removed when a server starts, but never the files of an import under way."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest

from tests import models
from tests.support import Server, bearer, cli_env, cli_json, run_cli

pytestmark = pytest.mark.slow

ADMIN = "store-admin-token-0123456789"


def _unwritable(path: Path) -> None:
    """A model folder no import can write to. Root writes through any mode bits, so there a
    file stands in place of the folder (mkdir then fails as a read-only folder's would)."""
    if os.geteuid() == 0:
        path.write_text("not a folder")
    else:
        path.mkdir()
        path.chmod(0o500)


def test_a_model_folder_that_cannot_be_written(tmp_path):
    folder = tmp_path / "models"
    _unwritable(folder)
    env = cli_env(tmp_path, FORWARDPASS_MODEL_DIR=str(folder), FORWARDPASS_ADMIN_TOKEN=ADMIN)
    model = models.scaled(tmp_path / "s.onnx", 1.0, 2)

    done = run_cli(tmp_path, "model", "import", str(model), "--json", env=env, check=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    error = json.loads(done.stderr)
    assert error["errorCode"] == "RegistryUnavailable"
    assert str(folder) in error["errorMessage"]

    server = Server(tmp_path, env=env)
    try:
        files = {"file": ("s.onnx", model.read_bytes())}
        r = httpx.post(
            f"{server.base}/api/v1/models", files=files, headers=bearer(ADMIN), timeout=30
        )
        assert r.status_code == 503, r.text
        assert r.json()["errorCode"] == "RegistryUnavailable"
    finally:
        server.stop()
    assert cli_json(tmp_path, "model", "list", env=env) == []  # nothing half-stored


def _locked(path: Path) -> int:
    """Hold `path` as an import under way in another process holds it."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_a_server_removes_what_killed_imports_left(tmp_path):
    stored = cli_json(tmp_path, "model", "import", str(models.scaled(tmp_path / "s.onnx", 1.0, 2)))
    deployment = cli_json(tmp_path, "deployment", "create", stored["name"])
    folder = tmp_path / "models" / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    # What `kill -9` during an import leaves: a half-written .part, and a file stored
    # before its row was committed. Beside them, the same of an import still running.
    left = [folder / "tmpdead.part", folder / f"ab{'0' * 62}.onnx"]
    running = [folder / "tmplive.part", folder / f"ab{'1' * 62}.onnx"]
    for path in left + running:
        path.write_bytes(b"\0" * 1_000_000)
    held = [_locked(path) for path in running]
    try:
        server = Server(tmp_path)
        try:
            assert not any(path.exists() for path in left)
            assert all(path.exists() for path in running)
            model = tmp_path / "models" / stored["sha256"][:2] / f"{stored['sha256']}.onnx"
            assert hashlib.sha256(model.read_bytes()).hexdigest() == stored["sha256"]
            rows = {"rows": [{"x": {"shape": [2], "data": [1.0, 2.0]}}]}
            answer = httpx.post(
                server.url(deployment["id"]),
                json=rows,
                headers=bearer(deployment["token"]),
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        finally:
            server.stop()
    finally:
        for fd in held:
            os.close(fd)
