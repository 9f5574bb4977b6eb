"""Which importer takes a file: the one place `forwardpass model import PATH`, the management
API and the pages decide it, by the file's name (its suffix), a folder's contents, or
failing those the file's first bytes.

A new source is one more `Source` in `SOURCES`: its test of the path and its import (which
imports its module when called, so that serving and the other commands load none of the
converters). What a remote caller may send is only what needs no unpickling and no folder:
ONNX, XGBoost JSON/UBJSON, LightGBM text and CatBoost `.cbm` (see `import_upload`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import onnx

from forwardpass.errors import BadData
from forwardpass.importers import onnx as onnx_importer
from forwardpass.importers import trees
from forwardpass.model import signature as sig

Options = trees.Options

PICKLES = (".pkl", ".pickle", ".joblib")
SKOPS = (".skops",)
XGBOOST = (".json", ".ubj")
LIGHTGBM, LIGHTGBM_MAGIC = (".txt",), b"tree\n"
CATBOOST, CATBOOST_MAGIC = (".cbm",), b"CBM1"


@dataclass(frozen=True)
class Source:
    """One kind of model people bring: how it is recognised and imported."""

    name: str
    matches: Callable[[Path, bytes], bool]
    load: Callable[[Path, Options], onnx.ModelProto]
    #: Whether a remote caller may send it (it needs no unpickling and no folder).
    remote: bool


def _suffix(*suffixes: str) -> Callable[[Path, bytes], bool]:
    return lambda path, _head: path.suffix.lower() in suffixes


def _mlflow_folder(path: Path, _head: bytes) -> bool:
    return path.is_dir() and (path / "MLmodel").is_file()


def _onnx(path: Path, options: Options) -> onnx.ModelProto:
    return onnx.load_from_string(onnx_importer.import_file(path, options.signature))


def _mlflow(path: Path, options: Options) -> onnx.ModelProto:
    from forwardpass.importers import mlflow

    return mlflow.import_folder(path, options)


def _xgboost(path: Path, options: Options) -> onnx.ModelProto:
    from forwardpass.importers import xgboost

    return xgboost.import_file(path, options)


def _lightgbm(path: Path, options: Options) -> onnx.ModelProto:
    from forwardpass.importers import lightgbm

    return lightgbm.import_bytes(path.read_bytes(), options)


def _catboost(path: Path, options: Options) -> onnx.ModelProto:
    from forwardpass.importers import catboost

    return catboost.import_bytes(path.read_bytes(), options)


def _pickled(path: Path, options: Options) -> onnx.ModelProto:
    from forwardpass.importers import pickled

    return pickled.import_file(path, options)


_ONNX = Source("ONNX model", _suffix(".onnx"), _onnx, True)
SOURCES: tuple[Source, ...] = (
    Source("MLflow model folder", _mlflow_folder, _mlflow, False),
    _ONNX,
    Source("XGBoost model", _suffix(*XGBOOST), _xgboost, True),
    Source(
        "LightGBM model",
        lambda p, h: p.suffix.lower() in LIGHTGBM or h.startswith(LIGHTGBM_MAGIC),
        _lightgbm,
        True,
    ),
    Source(
        "CatBoost model",
        lambda p, h: p.suffix.lower() in CATBOOST or h.startswith(CATBOOST_MAGIC),
        _catboost,
        True,
    ),
    Source(
        "saved scikit-learn model",
        lambda p, h: (
            p.suffix.lower() in (*PICKLES, *SKOPS) or h.startswith(onnx_importer.PICKLE_STARTS)
        ),
        _pickled,
        False,
    ),
)


def source_of(path: Path) -> Source:
    """The source that takes `path`; the ONNX importer when nothing else claims it (it
    names what a file is when it is not ONNX)."""
    head = b""
    if path.is_file():
        with path.open("rb") as file:
            head = file.read(16)
    for source in SOURCES:
        if source.matches(path, head):
            return source
    if path.is_dir():
        raise BadData(
            f"{path.name} is a folder without an MLmodel file: forwardpass imports a model "
            "file, or an MLflow model folder"
        )
    return _ONNX


def import_path(path: Path, options: Options) -> bytes:
    """The forwardpass model (ONNX bytes, with its signature) of a file or folder; the
    operator's signature file and labels override what the model says."""
    model = source_of(path).load(path, options)
    if options.signature is not None or options.labels:
        found = options.signature or sig.read(model)
        assert found is not None  # every importer writes one
        model = onnx_importer.prepare(model, trees.relabel(found, options.labels))
    return bytes(model.SerializeToString())


def import_upload(data: bytes, filename: str, options: Options) -> bytes:
    """The forwardpass model of a file a remote caller sent.

    Only sources that need no unpickling and no folder are taken. An ONNX file is read
    here; the others are parsed by their frameworks' native code, so they are converted in
    a child process with limits of memory and time (`isolated`): a hostile file can crash
    that child, never the server.
    """
    name = Path(filename.rsplit("/", 1)[-1] or "model")
    if data.startswith(onnx_importer.PICKLE_STARTS) or name.suffix.lower() in (*PICKLES, *SKOPS):
        raise BadData(
            f"{name} is a saved Python object: it is never taken over the network, as "
            "loading it can run code. Import it on your own machine with `forwardpass "
            f"model import {name} --trust-pickle`, which stores only the converted ONNX"
        )
    source = next((s for s in SOURCES if s.remote and s.matches(name, data[:16])), _ONNX)
    if source is _ONNX:
        return onnx_importer.import_bytes(data, options.signature)
    from forwardpass.importers import isolated

    return isolated.convert(data, name.suffix or ".bin", options)
