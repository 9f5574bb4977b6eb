"""A model's external data: a stored model is one self-contained file, never a way to read
the server's own files."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from forwardpass import runtime
from forwardpass.errors import BadData
from forwardpass.importers import onnx as importer
from tests import models
from tests.support import Server, bearer, cli_json, run_cli


def test_an_upload_pointing_at_a_file_of_the_server_is_refused_and_not_stored(managed, tmp_path):
    # The managed server runs in the suite's working directory, where pyproject.toml lies:
    # before the fix ORT read it into the initializer and predictions answered its bytes.
    model = models.external_data_model(tmp_path / "leak.onnx", "pyproject.toml")
    base, admin = managed["server"].base, bearer(managed["admin"])
    r = httpx.post(
        f"{base}/api/v1/models",
        files={"file": ("leak.onnx", model.read_bytes())},
        data={"name": "leak"},
        headers=admin,
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.json()["errorCode"] == "BadData"
    assert "external data" in r.json()["errorMessage"]
    listed = httpx.get(f"{base}/api/v1/models", headers=admin, timeout=30).json()
    assert not [m for m in listed if m["name"] == "leak"]


def test_the_cli_inlines_external_data_from_the_models_own_folder(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    model = models.external_data_model(folder / "net.onnx", "weights/b.bin")
    (folder / "weights").mkdir()
    (folder / "weights" / "b.bin").write_bytes(np.array([10.0, 20.0], np.float32).tobytes())
    data_dir = tmp_path / "data"
    cli_json(data_dir, "model", "import", str(model), "--name", "net")
    deployment = cli_json(data_dir, "deployment", "create", "net")
    # The data file is gone before serving: the stored model must not need it.
    (folder / "weights" / "b.bin").unlink()
    server = Server(data_dir)
    try:
        r = httpx.post(
            server.url(deployment["id"]),
            json={"rows": [{"x": [1.0, 2.0]}]},
            headers=bearer(deployment["token"]),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert r.json()["rows"][0]["y"]["data"] == [11.0, 22.0]
    finally:
        server.stop()


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname", "link.bin", "none.bin"])
def test_the_cli_refuses_external_data_outside_the_models_folder(tmp_path, location):
    folder = tmp_path / "export"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(b"\x00" * 8)
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    model = models.external_data_model(folder / "net.onnx", location)
    done = run_cli(tmp_path / "data", "model", "import", str(model), "--json", check=False)
    assert done.returncode != 0
    assert "not a file inside the model's folder" in done.stdout + done.stderr
    assert cli_json(tmp_path / "data", "model", "list") == []


def test_the_runtime_never_loads_a_model_with_external_data(tmp_path, monkeypatch):
    # As if stored by a version before the registry refused them, with the file it names in
    # the server's working directory.
    model = models.external_data_model(tmp_path / "stored.onnx", "secret.bin")
    (tmp_path / "secret.bin").write_bytes(np.array([1.0, 2.0], np.float32).tobytes())
    monkeypatch.chdir(tmp_path)
    signed = tmp_path / "signed.onnx"
    signed.write_bytes(importer.import_bytes(model.read_bytes()))
    with pytest.raises(BadData, match="external data"):
        runtime.Model(signed)
