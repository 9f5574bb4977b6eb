"""`forwardpass predict URL --token T FILE`: batch scoring from the shell, through the client."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import numpy as np
import typer

from forwardpass.cli import common
from forwardpass.client import Deployment, FeatureSpec
from forwardpass.errors import ForwardpassError

FORMATS = ("csv", "json", "jsonl")
_SUFFIXES = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def predict(
    url: Annotated[str, typer.Argument(help="The deployment's URL, ending in /forward.")],
    file: Annotated[
        Path,
        typer.Argument(
            help='The rows: CSV with a header, JSON (a list of rows or {"rows": [...]}) or '
            "JSON Lines; '-' reads stdin. Columns that are not inputs are left out.",
            show_default=False,
        ),
    ],
    token: Annotated[
        str,
        typer.Option(
            envvar="FORWARDPASS_TOKEN", help="The deployment's token.", show_default=False
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Where to write; default: stdout.", show_default=False),
    ] = None,
    output_format: Annotated[
        str | None,
        typer.Option(
            "--format", help="csv, json or jsonl; default: --output's suffix, else the input's."
        ),
    ] = None,
    input_format: Annotated[
        str | None, typer.Option(help="csv, json or jsonl; default: FILE's suffix.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Rows per request.")] = 128,
    max_workers: Annotated[int, typer.Option(help="Requests at once.")] = 4,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Show progress; default: on a terminal."),
    ] = None,
) -> None:
    """Predict every row of FILE and write one answer per row, in order."""
    source = input_format or _SUFFIXES.get(file.suffix.lower())
    if source not in FORMATS:
        common.fail("say --input-format csv, json or jsonl", "BadArgument", as_json=False)
    target = output_format or (output and _SUFFIXES.get(output.suffix.lower())) or source
    if target not in FORMATS:
        common.fail("--format must be csv, json or jsonl", "BadArgument", as_json=False)
    shown = sys.stderr.isatty() if progress is None else progress
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
    except OSError as exc:
        common.fail(f"cannot read {file}: {exc.strerror}", "BadArgument", as_json=False)
    try:
        with Deployment(url, token, batch_size=batch_size, max_workers=max_workers) as deployment:
            rows = read_rows(text, str(source), deployment.feature_specs_in)
            answers = deployment.predict_lazy(rows, progress=shown)
            if output is None:
                write(answers, str(target), sys.stdout)
            else:
                with output.open("w", newline="") as sink:
                    write(answers, str(target), sink)
    except ForwardpassError as exc:
        common.fail(exc.message, exc.code, as_json=False)
    except ValueError as exc:  # the file's own syntax
        common.fail(f"{file}: {exc}", "BadData", as_json=False)


def read_rows(text: str, kind: str, inputs: list[FeatureSpec]) -> list[dict[str, Any]]:
    """The rows of a CSV, JSON or JSON Lines text, keeping only the deployment's inputs."""
    names = {f.name for f in inputs}
    if kind == "csv":
        return list(_from_csv(text, inputs))
    if kind == "jsonl":
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        data = json.loads(text)
        items = data["rows"] if isinstance(data, dict) and "rows" in data else data
        if not isinstance(items, list):
            raise ValueError('expected a list of rows or {"rows": [...]}')
    return [
        {k: v for k, v in item.items() if k in names} if isinstance(item, dict) else item
        for item in items
    ]


def _from_csv(text: str, inputs: list[FeatureSpec]) -> Iterator[dict[str, Any]]:
    # Each cell is read as the feature's codec reads a form field: "0.4" is a number for a
    # numeric feature and stays a string for a text or categorical one.
    codecs = {f.name: f.codec() for f in inputs}
    for index, record in enumerate(csv.DictReader(io.StringIO(text))):
        row: dict[str, Any] = {}
        for name, codec in codecs.items():
            if name not in record:
                continue  # the client names the missing feature and its row
            try:
                row[name] = codec.from_form(record[name]) if codec else record[name]
            except ForwardpassError as exc:
                raise type(exc)(f"row {index}, {exc.message}") from None
        yield row


def write(answers: Iterable[dict[str, Any]], kind: str, sink: TextIO) -> None:
    """Answers as CSV (categorical scores as NAME.LABEL columns), JSON or JSON Lines."""
    plain = (_plain(a) for a in answers)
    if kind == "jsonl":
        for answer in plain:
            sink.write(json.dumps(answer) + "\n")
    elif kind == "json":
        sink.write('{"rows": [')
        for i, answer in enumerate(plain):
            sink.write(("," if i else "") + "\n" + json.dumps(answer))
        sink.write("\n]}\n")
    else:
        writer: csv.DictWriter[str] | None = None
        for answer in plain:
            flat = _flat(answer)
            if writer is None:
                writer = csv.DictWriter(sink, fieldnames=list(flat), lineterminator="\n")
                writer.writeheader()
            writer.writerow(flat)


def _plain(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        k: {"shape": list(v.shape), "data": v.ravel().tolist()} if isinstance(v, np.ndarray) else v
        for k, v in answer.items()
    }


def _flat(answer: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in answer.items():
        if isinstance(value, dict) and "shape" not in value:
            flat.update({f"{key}.{label}": score for label, score in value.items()})
        elif isinstance(value, dict):
            flat[key] = json.dumps(value)
        else:
            flat[key] = value
    return flat
