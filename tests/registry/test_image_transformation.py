"""A deployment's image transformation is stored (migration 0003) on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from forwardpass.errors import BadData
from forwardpass.registry import Registry
from tests import models


def test_the_transformation_is_stored_and_changed(registry: Registry, tmp_path: Path) -> None:
    registry.add_model(models.image_echo(tmp_path / "e.onnx").read_bytes(), "echo")
    created, _ = registry.create_deployment("echo", image_transformation="crop_and_resize")
    assert created.image_transformation == "crop_and_resize"
    assert created.to_dict()["image_transformation"] == "crop_and_resize"
    changed = registry.set_image_transformation(created.id, None)
    assert changed.image_transformation is None
    assert changed.revision == created.revision + 1  # serving processes reload it
    with pytest.raises(BadData, match="unknown image transformation"):
        registry.set_image_transformation(created.id, "zoom")
