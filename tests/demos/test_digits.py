"""`forwardpass demo --image`: trains the digits model, deploys it, serves it."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import bearer, cli_env, free_port, wait_for

pytestmark = pytest.mark.slow


def test_demo_image_serves_a_digit_classifier(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "forwardpass", "demo", "--image", "--json", "--port", str(port)],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["model"] == "digits:1"
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=60)
        # The curl command it prints sends the example row as JSON after -d.
        words = shlex.split(info["curl"])
        body = json.loads(words[words.index("-d") + 1])
        answer = httpx.post(info["url"], json=body, headers=bearer(info["token"]), timeout=30)
        assert answer.status_code == 200, answer.text
        scores = answer.json()["rows"][0]["digit"]
        assert sorted(scores) == [str(d) for d in range(10)]
        assert max(scores, key=scores.get) == "3"  # its example: a 3 on grey paper
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
