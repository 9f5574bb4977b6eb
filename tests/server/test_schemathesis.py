"""schemathesis against a live server: no 5xx, no answer that breaks the deployment's spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.support import Server, cli_env, cli_json

CONFIG = Path(__file__).with_name("schemathesis.toml")
API_CONFIG = Path(__file__).with_name("schemathesis-api.toml")
ADMIN = "schemathesis-admin-token-0123456789"


def schemathesis(
    config: Path, url: str, token: str, cwd: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            url,
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            *extra,
            "--max-examples",
            "60",
            "--workers",
            "1",
            "--seed",
            "1",
            "--no-color",
        ],
        cwd=cwd,  # schemathesis keeps a cache in its working directory
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["demo", "iris", "two", "tensor"])
def test_schemathesis_finds_nothing(served, kind, tmp_path):
    d = served[kind]
    # The /v2 paths have their own run (tests/server/oip/test_schemathesis.py), whose config
    # accepts a 400 for tensor shapes that JSON Schema cannot tie to their data.
    done = schemathesis(
        CONFIG,
        urljoin(d["url"], "openapi.json"),
        d["token"],
        tmp_path,
        "--exclude-path-regex",
        "^/v2",
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


@pytest.mark.slow
def test_schemathesis_finds_nothing_in_the_management_api(model_files, tmp_path):
    """The management API's document is true: each path's 405 lists all its methods (Allow),
    413 and 415 are documented, and the bodies it accepts are the ones the schema allows.

    Its own server: the run creates, changes and deletes deployments. About 20 s.
    """
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    cli_json(data_dir, "model", "import", str(model_files["demo"]), "--name", "demo")
    cli_json(data_dir, "deployment", "create", "demo")
    server = Server(data_dir, env=cli_env(data_dir, FORWARDPASS_ADMIN_TOKEN=ADMIN))
    try:
        done = schemathesis(
            API_CONFIG,
            f"{server.base}/api/v1/openapi.json",
            ADMIN,
            tmp_path,
            # A PATCH naming a model that does not exist answers 404 (see the config).
            "--exclude-checks",
            "ensure_resource_availability",
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
