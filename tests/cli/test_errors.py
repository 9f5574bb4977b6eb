"""Bad settings and a registry that cannot be opened: a message and exit 1, no traceback."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from forwardpass.cli import app
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


def test_a_short_admin_token_is_refused_at_start(tmp_path):
    env = cli_env(tmp_path, FORWARDPASS_ADMIN_TOKEN="x")
    done = run_cli(tmp_path, "serve", "--port", "0", env=env, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "FORWARDPASS_ADMIN_TOKEN is 1 characters; an admin token needs at least 16" in (
        done.stderr
    )


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


_ID = "00000000-0000-0000-0000-000000000000"
# Every command that takes --json, with arguments that get it as far as reading its settings.
JSON_COMMANDS = {
    "model import": ["model.onnx"],
    "model list": [],
    "model show": ["demo:1"],
    "model delete": ["demo:1"],
    "deployment create": ["demo"],
    "deployment list": [],
    "deployment show": [_ID],
    "deployment update": [_ID, "--name", "renamed"],
    "deployment enable": [_ID],
    "deployment disable": [_ID],
    "deployment rotate-token": [_ID],
    "deployment delete": [_ID],
    "demo": [],
    "migrate": [],
}


def _commands_with_json(command: Any, path: str = "") -> set[str]:
    subcommands = getattr(command, "commands", None)  # a group (typer's, not click's class)
    if subcommands is not None:
        return set().union(
            *(_commands_with_json(sub, f"{path} {name}") for name, sub in subcommands.items())
        )
    return {path.strip()} if any(p.name == "json" for p in command.params) else set()


def test_the_list_names_every_command_that_takes_json():
    assert set(JSON_COMMANDS) == _commands_with_json(typer.main.get_command(app))


def _invoke(args: list[str], **env: str) -> Result:
    # In process: a subprocess per command would cost seconds each for the same code path.
    cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FORWARDPASS_")}
    return CliRunner().invoke(app, args, env={**cleared, **env})


@pytest.mark.parametrize("command", JSON_COMMANDS)
def test_a_bad_setting_is_a_json_error_for_every_json_command(tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"")
    args = [*command.split(), *JSON_COMMANDS[command], "--json"]
    done = _invoke(args, FORWARDPASS_DATA_DIR=str(tmp_path), FORWARDPASS_LOG_LEVEL="loud")
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    assert done.stdout == ""
    assert json.loads(done.stderr) == {
        "errorCode": "BadSetting",
        "errorMessage": "FORWARDPASS_LOG_LEVEL='loud' is not one of debug, info, warning, error",
    }


@pytest.mark.parametrize(
    ("port", "message"),
    [("abc", "FORWARDPASS_PORT='abc' is not a valid int"), ("99999", "got 99999")],
)
def test_a_bad_port_is_a_json_error_with_json_and_text_without(tmp_path, port, message):
    env = {"FORWARDPASS_DATA_DIR": str(tmp_path), "FORWARDPASS_PORT": port}
    done = _invoke(["deployment", "list", "--json"], **env)
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    error = json.loads(done.stderr)
    assert error["errorCode"] == "BadSetting" and message in error["errorMessage"]
    done = _invoke(["deployment", "list"], **env)
    assert done.exit_code == 1 and isinstance(done.exception, SystemExit), done.output
    assert done.stderr.startswith("error: ") and message in done.stderr
