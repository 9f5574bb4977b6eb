"""schemathesis on the protocol's paths of a deployment's own document: no 5xx, no answer
the document does not describe, no request against the schema accepted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import pytest

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.slow
def test_schemathesis_finds_nothing_on_the_v2_paths(oip, tmp_path):
    """On the image model: its inputs reach the most code (files, data URIs, pixels)."""
    d = oip["digits"]
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
            "--include-path-regex",
            "^/v2",
            "--max-examples",
            "30",
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
    assert "No issues found" in done.stdout, done.stdout[-3000:]
