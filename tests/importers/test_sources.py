"""Which importer takes a file, and that serving loads none of the converters."""

from __future__ import annotations

import subprocess
import sys

import pytest

from forwardpass.errors import BadData
from forwardpass.importers import sources


@pytest.mark.slow
def test_serving_and_the_command_line_load_no_converter():
    # A server must run without the extras: they are imported only by an import.
    code = (
        "import sys, forwardpass.server.app, forwardpass.cli\n"
        "names = ('xgboost', 'lightgbm', 'catboost', 'onnxmltools', 'skops', 'mlflow')\n"
        "print(sorted(m for m in names if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "head", "source"),
    [
        ("model.onnx", b"\x08\x07", "ONNX model"),
        ("booster.json", b"{", "XGBoost model"),
        ("booster.ubj", b"{L", "XGBoost model"),
        ("model.txt", b"tree\n", "LightGBM model"),
        ("renamed.bin", b"tree\nversion=v4", "LightGBM model"),
        ("model.cbm", b"CBM1", "CatBoost model"),
        ("pipeline.joblib", b"\x80\x04", "saved scikit-learn model"),
        ("pipeline.skops", b"PK", "saved scikit-learn model"),
        ("pipeline.bin", b"\x80\x05", "saved scikit-learn model"),
    ],
)
def test_a_file_goes_to_the_importer_of_its_kind(tmp_path, name, head, source):
    path = tmp_path / name
    path.write_bytes(head)
    assert sources.source_of(path).name == source


def test_a_folder_needs_an_mlmodel(tmp_path):
    with pytest.raises(BadData, match="MLmodel"):
        sources.source_of(tmp_path)
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    assert sources.source_of(tmp_path).name == "MLflow model folder"
