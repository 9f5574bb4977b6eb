"""The protocol's tests share the session's server (tests/conftest.py `served`), adding an
image model's deployment and a disabled one to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import models
from tests.support import bearer, cli_json, wait_for


@pytest.fixture(scope="session")
def oip(served: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`served`, plus "digits" (an image model) and "disabled" (demo, disabled)."""
    data_dir: Path = served["data_dir"]
    if "digits" not in served:
        path = models.digits_classifier(tmp_path_factory.mktemp("oip") / "digits.onnx")
        cli_json(data_dir, "model", "import", str(path), "--name", "digits")
        served["digits"] = cli_json(data_dir, "deployment", "create", "digits")
        served["disabled"] = cli_json(data_dir, "deployment", "create", "demo", "--disabled")
        base = served["server"].base
        # The server sees new deployments at its next refresh of the registry.
        wait_for(
            lambda: (
                httpx.get(
                    f"{base}/v2/models/{served['digits']['id']}/ready",
                    headers=bearer(served["digits"]["token"]),
                ).status_code
                == 200
            ),
            timeout=10,
        )
    return served
