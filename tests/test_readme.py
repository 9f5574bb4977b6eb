"""The README's examples run against a real server, with URL and TOKEN filled in.

Every fenced `sh` or `python` block that uses URL or TOKEN runs; the comment lines that
show output (`# {...`, `# [...`, `# 41.6...`) must appear in what it prints, in order,
`...` standing for the rest of a number.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import models
from tests.support import cli_json

README = Path(__file__).parents[1] / "README.md"
_FENCE = re.compile(r"^```(sh|python)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SHOWN = re.compile(r"^# ([{\['A-Za-z0-9].*)$", re.MULTILINE)


def blocks() -> list[tuple[str, str]]:
    found = [(m[1], m[2]) for m in _FENCE.finditer(README.read_text())]
    return [
        (lang, code)
        for lang, code in found
        # A block that starts its own server (`forwardpass demo`) is the demo tests' concern.
        if "URL" in code and "TOKEN" in code and not re.search(r"forwardpass (demo|serve)", code)
    ]


def expected(code: str) -> re.Pattern[str]:
    parts = [re.escape(line).replace(r"\.\.\.", r"[0-9.e+-]*") for line in _SHOWN.findall(code)]
    return re.compile(r".*?".join(parts), re.DOTALL)


def test_the_readme_has_curl_requests_and_client_examples():
    code = "\n".join(c for _, c in blocks())
    assert "curl" in code and "import requests" in code and "forwardpass.client" in code
    assert "forwardpass predict" in code and "openapi.json" in code


@pytest.mark.parametrize(("lang", "code"), blocks(), ids=lambda v: v[:30] if len(v) > 8 else v)
def test_readme_example_runs(served, tmp_path, lang, code):
    d = served["demo"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORWARDPASS_")}
    env.update(URL=d["url"], TOKEN=d["token"])
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if lang == "sh":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        command = [sys.executable, "-c", f"URL = {d['url']!r}\nTOKEN = {d['token']!r}\n{code}"]
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    if "--on-error skip" not in code:  # that one shows a bad row's error on purpose
        assert "errorCode" not in done.stdout, done.stdout
    assert expected(code).search(done.stdout), f"printed:\n{done.stdout}"


def test_readme_signature_file_fits_an_skl2onnx_classifier(tmp_path):
    """The README's YAML signature imports over the plain skl2onnx iris classifier."""
    yaml_blocks = re.findall(r"^```yaml\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
    signature = tmp_path / "signature.yaml"
    signature.write_text(next(b for b in yaml_blocks if "sepal_length" in b))
    model = models.iris_classifier(tmp_path / "model.onnx")
    imported = cli_json(tmp_path, "model", "import", str(model), "--signature", str(signature))
    outputs = imported["signature"]["outputs"]
    assert outputs[0]["categories"] == ["setosa", "versicolor", "virginica"]
