"""`forwardpass deployment update`: switch the model version and rename, from the CLI."""

from __future__ import annotations

import json

from tests import models
from tests.support import cli_json, run_cli


def test_update_switches_version_and_name(tmp_path):
    for factor, width in ((1.0, 2), (2.0, 2), (1.0, 3)):
        path = models.scaled(tmp_path / f"s-{factor}-{width}.onnx", factor, width)
        cli_json(tmp_path, "model", "import", str(path), "--name", "scaled")
    created = cli_json(tmp_path, "deployment", "create", "scaled:1")

    refused = run_cli(
        tmp_path,
        "deployment",
        "update",
        created["id"],
        "--model",
        "scaled:3",
        "--json",
        check=False,
    )
    assert refused.returncode == 1
    error = json.loads(refused.stderr)
    assert error["errorCode"] == "IncompatibleModel"
    assert "input 'x' changed shape from [2] to [3]" in error["errorMessage"]

    updated = cli_json(
        tmp_path, "deployment", "update", created["id"], "--model", "scaled:2", "--name", "twice"
    )
    assert updated["model"] == "scaled:2" and updated["name"] == "twice"
    assert updated["url"] == created["url"]
