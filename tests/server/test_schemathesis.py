"""schemathesis against a live server: no 5xx, no answer that breaks the deployment's spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["demo", "iris", "two", "tensor"])
def test_schemathesis_finds_nothing(served, kind, tmp_path):
    d = served[kind]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(CONFIG),
            "run",
            urljoin(d["url"], "openapi.json"),
            "-H",
            f"Authorization: Bearer {d['token']}",
            "--checks",
            "all",
            "--max-examples",
            "60",
            "--workers",
            "1",
            "--seed",
            "1",
            "--no-color",
        ],
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
