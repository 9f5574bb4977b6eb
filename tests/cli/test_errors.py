"""Bad settings and a registry that cannot be opened: a message and exit 1, no traceback."""

from __future__ import annotations

import json

import pytest

from tests import models
from tests.support import cli_env, cli_json, run_cli


@pytest.mark.parametrize(
    ("database_url", "shown"),
    [
        ("nonsense://", "nonsense://"),
        ("mysql://bob@127.0.0.1/db", "No module named"),  # a database without its driver
        ("not a url", "does not parse"),
        ("postgresql://bob:s3cret@127.0.0.1:1/db", "postgresql://bob:***@127.0.0.1:1/db"),
    ],
)
def test_a_registry_that_cannot_be_opened_is_a_clean_error(tmp_path, database_url, shown):
    env = cli_env(tmp_path, FORWARDPASS_DATABASE_URL=database_url)
    done = run_cli(tmp_path, "model", "list", "--json", env=env, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    error = json.loads(done.stderr)
    assert error["errorCode"] == "RegistryUnavailable"
    assert shown in error["errorMessage"] and "s3cret" not in error["errorMessage"]


def test_an_unknown_log_level_or_port_is_a_clean_error(tmp_path):
    env = cli_env(tmp_path, FORWARDPASS_LOG_LEVEL="loud")
    done = run_cli(tmp_path, "serve", "--port", "1", env=env, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "FORWARDPASS_LOG_LEVEL='loud' is not one of debug" in done.stderr
    done = run_cli(tmp_path, "serve", "--port", "99999", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "the port must be 0 to 65535, got 99999" in done.stderr


def test_limits_and_versions_out_of_range_are_refused(tmp_path):
    cli_json(tmp_path, "model", "import", str(models.scaled(tmp_path / "s.onnx", 1.0)))
    created = cli_json(tmp_path, "deployment", "create", "s")
    for args in (
        ("deployment", "create", "s:" + "9" * 30),
        ("deployment", "update", created["id"], "--max-rows", str(2**40)),
        ("deployment", "update", created["id"], "--name", ""),
    ):
        done = run_cli(tmp_path, *args, "--json", check=False)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert json.loads(done.stderr)["errorCode"] in ("ResourceNotFound", "BadData")
