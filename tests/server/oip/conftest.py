"""The protocol's tests share the session's server (tests/conftest.py `served`), adding an
image model's deployment and a disabled one to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from forwardpass.registry import Registry
from forwardpass.services.changes import apply_changes
from forwardpass.services.models import import_model
from forwardpass.settings import Settings
from tests import models
from tests.support import bearer, wait_for


@pytest.fixture(scope="session")
def oip(served: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`served`, plus "digits" (an image model), "disabled" (demo, disabled) and "limited"
    (demo, with a body limit of 2,000 bytes, 3 rows, and 2 requests at once then 1 an hour)."""
    if "digits" in served:
        return served
    data_dir: Path = served["data_dir"]
    path = models.digits_classifier(tmp_path_factory.mktemp("oip") / "digits.onnx")
    # In this process, through the registry the server reads: the CLI would cost a Python
    # start and its imports per step.
    registry = Registry.open(Settings(data_dir=data_dir))
    try:
        import_model(registry, path.read_bytes(), "digits", None)
        for key, model, enabled in (("digits", "digits", True), ("disabled", "demo", False)):
            deployment, token = registry.create_deployment(model, None, enabled=enabled)
            url = served["server"].url(deployment.id)
            served[key] = {"id": deployment.id, "token": token, "url": url}
        limited, token = registry.create_deployment("demo", None, enabled=True)
        limits = {"max_body_bytes": 2000, "max_rows": 3, "rate": 1 / 3600, "burst": 2}
        apply_changes(registry, limited.id, {"limits": limits})
        url = served["server"].url(limited.id)
        served["limited"] = {"id": limited.id, "token": token, "url": url}
    finally:
        registry.close()
    digits = served["digits"]
    base = served["server"].base
    # The server sees new deployments at its next refresh of the registry.
    wait_for(
        lambda: (
            httpx.get(
                f"{base}/v2/models/{digits['id']}/ready", headers=bearer(digits["token"])
            ).status_code
            == 200
        ),
        timeout=10,
    )
    return served
