"""Import an MLflow model folder (the folder holding `MLmodel`), without the mlflow package.

The flavors converted, in this order of preference: onnx, xgboost, lightgbm, catboost,
sklearn (its skops file; a pickled one with `--trust-pickle`), pytorch (an exported program,
with `--trust-pickle` and an input example). The MLflow signature's column
names become the feature names, and its input example the example the spec and the
deployment view show; the example's rows are also among those the conversion is checked on.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd

from forwardpass.errors import BadData
from forwardpass.importers import agreement, catboost, extras, lightgbm, pickled, trees, xgboost
from forwardpass.importers import onnx as onnx_importer
from forwardpass.model import signature as sig
from forwardpass.model import signature_text

#: The flavors forwardpass converts, most direct first.
FLAVORS = ("onnx", "xgboost", "lightgbm", "catboost", "sklearn", "pytorch")
_COLUMN_TYPES = {"double": float, "float": float, "long": int, "integer": int, "boolean": bool}


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "MLmodel").is_file()


def import_folder(folder: Path, options: trees.Options) -> onnx.ModelProto:
    """The forwardpass model of an MLflow model folder."""
    meta = signature_text.load((folder / "MLmodel").read_bytes())
    if not isinstance(meta, dict) or not isinstance(meta.get("flavors"), dict):
        raise BadData("MLmodel has no flavors: this is not an MLflow model folder")
    flavors: dict[str, Any] = meta["flavors"]
    chosen = next((f for f in FLAVORS if f in flavors), None)
    if chosen is None:
        found = ", ".join(f for f in flavors if f != "python_function") or "none"
        raise BadData(
            f"this MLflow model's flavor ({found}) cannot be converted to ONNX; forwardpass "
            f"imports the {', '.join(FLAVORS)} flavors"
        )
    columns = _columns(meta)
    example = _example(folder, meta, columns)
    model = _convert(folder, chosen, flavors[chosen], options, example, columns)
    return _with_example(_named(model, columns), example)


def _convert(
    folder: Path,
    flavor: str,
    info: dict[str, Any],
    options: trees.Options,
    example: pd.DataFrame | None,
    columns: list[tuple[str, type]] | None,
) -> onnx.ModelProto:
    stored = info.get("data") or info.get("pickled_model") or info.get("model_data") or ""
    data = _inside(folder, str(stored))
    rows = None if example is None else example.to_numpy(dtype=np.float32)
    if flavor == "onnx":
        return onnx.load_from_string(onnx_importer.import_file(data, options.signature))
    if flavor == "xgboost":
        booster = xgboost.load(data)
        return xgboost.from_booster(_renamed(booster, columns), options, rows)
    if flavor == "lightgbm" and data.suffix != ".lgb":  # an sklearn-API model, saved whole
        return pickled.import_file(data, options, example)
    if flavor == "lightgbm":
        return lightgbm.from_booster(lightgbm.load(data.read_bytes()), options, rows)
    if flavor == "pytorch":
        return _pytorch(folder, data, options, example)
    if flavor == "catboost":
        return catboost.from_model(catboost.load(data.read_bytes()), options, rows)
    # sklearn: a .skops file, checked for its types; a pickle only when trusted.
    return pickled.import_file(data, options, example)


def _pytorch(
    folder: Path, data: Path, options: trees.Options, example: pd.DataFrame | None
) -> onnx.ModelProto:
    """A PyTorch module MLflow saved as an exported program (`data/model.pt2`), exported
    to ONNX with its dynamic batch. Loading runs torch's deserializer over the operator's
    own file: like a pickle, only with --trust-pickle. Needs the input example."""
    if not options.trust_pickle:
        raise BadData(
            f"{folder.name} is an MLflow pytorch model: loading it runs torch's "
            "deserializer. If you trust the folder, import it with --trust-pickle"
        )
    program_file = data / "model.pt2" if data.is_dir() else data
    if program_file.suffix != ".pt2" or not program_file.is_file():
        raise BadData(
            "this MLflow pytorch model is a pickled module (MLflow before 3.0): load it "
            "where it was trained and write it with forwardpass.importers.torch.to_onnx"
        )
    if example is None:
        raise BadData("an MLflow pytorch model needs its input example to be exported")
    torch = extras.need("torch", "torch", "an MLflow pytorch model")
    from forwardpass.importers import torch as torch_importer

    program = torch.export.load(str(program_file))
    rows = torch.from_numpy(np.array(example.to_numpy(dtype=np.float32), copy=True))
    try:
        exported = torch_importer.export_program(program, rows, "input", options.target)
    except Exception as exc:  # the exporter raises many kinds
        raise BadData(f"torch cannot export this module to ONNX: {exc}") from None
    model = torch_importer.with_signature(exported, rows, "input", options.target, options.labels)
    with torch.no_grad():
        want = program.module()(rows).numpy()
    got = agreement.run(model, {"input": rows.numpy()}, options.target)
    agreement.check(got, want, "PyTorch module")
    return model


def _renamed(booster: Any, columns: list[tuple[str, type]] | None) -> Any:
    """The booster with the MLflow signature's column names, where it has none of its own."""
    if columns and not booster.feature_names and len(columns) == booster.num_features():
        booster.feature_names = [name for name, _ in columns]
    return booster


def _inside(folder: Path, name: str) -> Path:
    """A file the MLmodel names, which must be inside the model's folder."""
    root = folder.resolve()
    found = (root / name).resolve()
    if not name or not found.is_relative_to(root) or not found.exists():
        raise BadData(f"MLmodel names the model file {name!r}, which is not in {folder.name}")
    return found


def _columns(meta: dict[str, Any]) -> list[tuple[str, type]] | None:
    """(name, Python type) of each input column of a column-based MLflow signature."""
    signature = meta.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("inputs"), str):
        return None
    try:
        inputs = json.loads(signature["inputs"])
    except json.JSONDecodeError:
        raise BadData("MLmodel's signature inputs are not valid JSON") from None
    if not isinstance(inputs, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in inputs
    ):
        return None  # a tensor-based signature: the graph's own names stand
    return [(c["name"], _COLUMN_TYPES.get(str(c.get("type")), str)) for c in inputs]


def _example(
    folder: Path, meta: dict[str, Any], columns: list[tuple[str, type]] | None
) -> pd.DataFrame | None:
    """The input example as a frame (MLflow writes it split: columns and data)."""
    info = meta.get("saved_input_example_info")
    if not isinstance(info, dict) or not isinstance(info.get("artifact_path"), str):
        return None
    path = _inside(folder, info["artifact_path"])
    data = signature_text.load(path.read_bytes(), json_only=True)
    if isinstance(data, dict) and "dataframe_split" in data:
        data = data["dataframe_split"]
    if isinstance(data, list) and data and all(isinstance(r, list) for r in data):
        return pd.DataFrame(data)  # an ndarray example: a tensor's rows
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        return None
    frame = pd.DataFrame(data["data"], columns=data.get("columns"))
    for name, kind in columns or ():
        if name in frame.columns and kind is float:
            frame[name] = frame[name].astype(np.float64)
    return frame


def _named(model: onnx.ModelProto, columns: list[tuple[str, type]] | None) -> onnx.ModelProto:
    """The model whose inputs, columns of one tensor, take the MLflow signature's names
    (LightGBM, for one, keeps its feature names with spaces made underscores)."""
    found = sig.read(model)
    if not columns or found is None or len(found.inputs) != len(columns):
        return model
    if len({f.tensor for f in found.inputs}) != 1:
        return model  # one input per column: the converter kept the names
    inputs = tuple(replace(f, name=n) for f, (n, _) in zip(found.inputs, columns, strict=True))
    sig.write(model, sig.Signature(inputs, found.outputs))
    return model


def _with_example(model: onnx.ModelProto, example: pd.DataFrame | None) -> onnx.ModelProto:
    """The model whose input features carry the example's first row as their example."""
    found = sig.read(model)
    if example is None or found is None or example.empty:
        return model
    first = {str(k): v.item() if hasattr(v, "item") else v for k, v in example.iloc[0].items()}
    if len(found.inputs) == 1 and found.inputs[0].size == len(first) > 1:
        first = {found.inputs[0].name: list(first.values())}  # one tensor's row
    inputs = tuple(
        replace(f, extra={**f.extra, "example": first[f.name]}) if f.name in first else f
        for f in found.inputs
    )
    sig.write(model, sig.Signature(inputs, found.outputs))
    return model
