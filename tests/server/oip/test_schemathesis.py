"""schemathesis on the protocol's paths of a deployment's own document: no 5xx, no answer
the document does not describe, no request against the schema accepted."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import pytest

from tests.server.test_schemathesis import schemathesis

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["demo", "digits"])
def test_schemathesis_finds_nothing_on_the_v2_paths(oip, kind, tmp_path):
    d = oip[kind]
    done = schemathesis(
        CONFIG,
        urljoin(d["url"], "openapi.json"),
        d["token"],
        tmp_path,
        "--include-path-regex",
        "^/v2",
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
