"""`forwardpass model ...`: import and list models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forwardpass.cli import common
from forwardpass.errors import BadData, ForwardpassError
from forwardpass.importers import onnx as onnx_importer
from forwardpass.model.signature import Signature

app = typer.Typer(help="Import, list, show and delete models.", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            help="An ONNX file, an XGBoost (.json, .ubj), LightGBM (.txt) or CatBoost (.cbm) "
            "model, an MLflow model folder, a transformers model's folder, or a saved "
            "scikit-learn pipeline (.skops; .pkl and .joblib with --trust-pickle).",
            exists=True,
        ),
    ],
    name: Annotated[str | None, typer.Option(help="Model name; default: the file's stem.")] = None,
    signature: Annotated[
        Path | None,
        typer.Option(
            help="A JSON or YAML signature that overrides the inferred one.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option(help="A classifier's class labels, comma-separated, in score order."),
    ] = None,
    target: Annotated[
        str, typer.Option(help="The output feature's name (converted models).")
    ] = "prediction",
    trust_pickle: Annotated[
        bool,
        typer.Option(
            "--trust-pickle",
            help="Load a pickled pipeline (.pkl, .joblib): unpickling runs the code it holds, "
            "so only for a file you trust. Only the converted ONNX model is kept.",
        ),
    ] = False,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Import a model file (or a model folder) as the next version of a model."""
    with common.opened(data_dir, database_url, as_json=json) as (_config, registry):
        try:
            from forwardpass.importers import sources  # the converters, only when importing

            given = onnx_importer.read_signature_file(signature) if signature else None
            if file.is_dir() and not (file / "MLmodel").exists():
                data = _import_folder(file, given)
            else:
                named = tuple(x.strip() for x in labels.split(",")) if labels else None
                options = sources.Options(named, target, given, trust_pickle)
                data = sources.import_path(file, options)
        except ForwardpassError as exc:
            common.fail(exc.message, exc.code, as_json=json)
        model = registry.add_model(data, name or file.stem)
        common.emit(
            model.to_dict(),
            json,
            lambda: common.out.print(f"imported [bold]{model.ref}[/] ({model.sha256[:12]})"),
        )


def _import_folder(folder: Path, given: Signature | None) -> bytes:
    """A folder: a transformers model (its config.json says so), with its tokenizer."""
    if not (folder / "config.json").is_file():
        raise BadData(f"{folder.name} is a folder without config.json, not a transformers model")
    if given is not None:
        raise BadData("a transformers model takes its signature from its config, not a file")
    try:
        from forwardpass.importers import transformers  # the optional extra, on demand
    except ImportError as exc:
        raise BadData(str(exc)) from None
    return transformers.import_folder(folder)


@app.command("list")
def list_(
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """List every model version."""
    with common.opened(data_dir, database_url, as_json=json) as (_config, registry):
        found = registry.models()
        common.emit(
            [m.to_dict() for m in found],
            json,
            lambda: common.table(
                ["MODEL", "INPUTS", "OUTPUTS", "SHA256", "CREATED"],
                [
                    [
                        m.ref,
                        ", ".join(f.name for f in m.signature.inputs),
                        ", ".join(f.name for f in m.signature.outputs),
                        m.sha256[:12],
                        m.created_at.strftime("%Y-%m-%d %H:%M"),
                    ]
                    for m in found
                ],
            ),
        )


Ref = Annotated[str, typer.Argument(help="NAME:VERSION, or NAME for its newest version.")]


@app.command()
def show(
    ref: Ref,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Show one model version: its size, sha256 and signature."""
    with common.opened(data_dir, database_url, as_json=json) as (_config, registry):
        found = registry.model(ref)
        users = [d.id for d in registry.deployments() if d.model.id == found.id]
        data = {**found.to_dict(), "deployments": users}

        def text() -> None:
            common.fields(
                {
                    "model": found.ref,
                    "sha256": found.sha256,
                    "size": f"{found.size_bytes} bytes",
                    "created": found.created_at.strftime("%Y-%m-%d %H:%M"),
                    "deployments": ", ".join(users) or "none",
                }
            )
            common.table(
                ["SIDE", "FEATURE", "TYPE", "SHAPE"],
                [
                    [side, f.name, f.type, "x".join(map(str, f.shape))]
                    for side, features in (
                        ("input", found.signature.inputs),
                        ("output", found.signature.outputs),
                    )
                    for f in features
                ],
            )

        common.emit(data, json, text)


@app.command()
def delete(
    ref: Annotated[str, typer.Argument(help="NAME:VERSION of the version to delete.")],
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Delete a model version that no deployment uses."""
    with common.opened(data_dir, database_url, as_json=json) as (_config, registry):
        found = registry.model(ref) if ":" in ref else None
        registry.delete_model(ref)
        deleted = found.ref if found else ref
        common.emit(
            {"ref": deleted, "deleted": True},
            json,
            lambda: common.out.print(f"deleted {deleted}"),
        )
