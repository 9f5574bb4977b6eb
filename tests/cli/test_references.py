"""The command line as people type it: deployments by name or ID prefix, `model show` and
`model delete`, `--version`, and usage errors in JSON under `--json`."""

from __future__ import annotations

import json

from forwardpass import __version__
from tests import models
from tests.support import cli_json, run_cli


def test_a_deployment_by_its_name_or_a_prefix_of_its_id(tmp_path):
    cli_json(tmp_path, "model", "import", str(models.scaled(tmp_path / "s.onnx", 1.0)))
    churn = cli_json(tmp_path, "deployment", "create", "s", "--name", "churn")
    assert cli_json(tmp_path, "deployment", "show", "churn")["id"] == churn["id"]
    assert cli_json(tmp_path, "deployment", "show", churn["id"][:8])["id"] == churn["id"]
    assert cli_json(tmp_path, "deployment", "disable", "churn")["status"] == "disabled"
    # A second "churn": the name no longer says which, and the error lists both.
    other = cli_json(tmp_path, "deployment", "create", "s", "--name", "churn")
    done = run_cli(tmp_path, "deployment", "show", "churn", "--json", check=False)
    error = json.loads(done.stderr)
    assert done.returncode == 1 and error["errorCode"] == "BadData"
    assert churn["id"] in error["errorMessage"] and other["id"] in error["errorMessage"]
    # Too short a prefix is no reference at all.
    done = run_cli(tmp_path, "deployment", "show", churn["id"][:3], "--json", check=False)
    assert json.loads(done.stderr)["errorCode"] == "ResourceNotFound"
    deleted = cli_json(tmp_path, "deployment", "delete", churn["id"][:12])
    assert deleted == {"id": churn["id"], "deleted": True}


def test_model_show_and_delete(tmp_path):
    cli_json(tmp_path, "model", "import", str(models.scaled(tmp_path / "s.onnx", 1.0)))
    shown = cli_json(tmp_path, "model", "show", "s:1")
    assert shown["ref"] == "s:1" and shown["deployments"] == []
    assert [f["name"] for f in shown["signature"]["inputs"]] == ["x"]
    text = run_cli(tmp_path, "model", "show", "s").stdout
    assert "s:1" in text and "input" in text and "x" in text
    d = cli_json(tmp_path, "deployment", "create", "s")
    done = run_cli(tmp_path, "model", "delete", "s:1", "--json", check=False)
    assert done.returncode == 1 and json.loads(done.stderr)["errorCode"] == "Conflict"
    cli_json(tmp_path, "deployment", "disable", d["id"])
    cli_json(tmp_path, "deployment", "delete", d["id"])
    assert cli_json(tmp_path, "model", "delete", "s:1") == {"ref": "s:1", "deleted": True}
    assert cli_json(tmp_path, "model", "list") == []


def test_version(tmp_path):
    done = run_cli(tmp_path, "--version")
    assert done.stdout.strip() == f"forwardpass {__version__}"


def test_usage_errors_are_json_under_json(tmp_path):
    for args, shown in (
        (("deployment", "show"), "Missing argument"),
        (("model", "list", "--bogus"), "No such option: --bogus"),
    ):
        done = run_cli(tmp_path, *args, "--json", check=False)
        assert done.returncode == 2
        error = json.loads(done.stderr)
        assert error["errorCode"] == "UsageError" and shown in error["errorMessage"]
