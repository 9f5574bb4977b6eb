"""`forwardpass predict URL --token T FILE`: batch scoring from the shell, through the client.

Rows are named as the file counts them: a CSV's or JSON Lines file's line (a CSV's header is
line 1, so its first row is line 2), a JSON list's item from 1.
"""

from __future__ import annotations

import contextlib
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
from forwardpass.cli.scoring import Record, scored
from forwardpass.client import Deployment, FeatureSpec
from forwardpass.client.progress import Bar
from forwardpass.errors import FeatureNotFound, ForwardpassError, JsonParsingError

FORMATS = ("csv", "json", "jsonl")
ON_ERROR = ("stop", "skip")
ERROR_COLUMNS = ("errorCode", "errorMessage")
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
    keep: Annotated[
        str,
        typer.Option(
            help="Columns of FILE to copy beside each answer, comma-separated (an ID, say).",
            show_default=False,
        ),
    ] = "",
    on_error: Annotated[
        str,
        typer.Option(
            help="stop: at the first bad row, after writing the answers before it (exit 1); "
            "skip: answer every good row and write each bad row's errorCode and errorMessage "
            "in its place."
        ),
    ] = "stop",
) -> None:
    """Predict every row of FILE and write one answer per row, in order.

    Errors name a row by its line in FILE (a CSV's header is line 1), or for a JSON list
    by its item, counting from 1."""
    source = input_format or _SUFFIXES.get(file.suffix.lower())
    if source not in FORMATS:
        common.fail("say --input-format csv, json or jsonl", "BadArgument", as_json=False)
    target = output_format or (output and _SUFFIXES.get(output.suffix.lower())) or source
    if target not in FORMATS:
        common.fail("--format must be csv, json or jsonl", "BadArgument", as_json=False)
    if on_error not in ON_ERROR:
        common.fail("--on-error must be stop or skip", "BadArgument", as_json=False)
    kept = [name.strip() for name in keep.split(",") if name.strip()]
    skip = on_error == "skip"
    shown = sys.stderr.isatty() if progress is None else progress
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
    except OSError as exc:
        common.fail(f"cannot read {file}: {exc.strerror}", "BadArgument", as_json=False)
    failed = 0
    try:
        # One request per batch here, `max_workers` of them at once (cli/scoring.py).
        with Deployment(url, token, batch_size=batch_size, max_workers=1) as deployment:
            _check_kept(kept, deployment)
            records = read_records(text, str(source), deployment.feature_specs_in, kept)
            with (
                Bar(shown, len(records)) as bar,
                # Closed before the client: its requests in flight end first.
                contextlib.closing(
                    scored(deployment, records, batch_size=batch_size, workers=max_workers, bar=bar)
                ) as done,
            ):
                outcomes = _outcomes(done, skip)
                if output is None:
                    write(outcomes, str(target), sys.stdout, errors=skip)
                else:
                    with output.open("w", newline="") as sink:
                        write(outcomes, str(target), sink, errors=skip)
            failed = sum(r.error is not None for r in records)
    except _Stopped as stop:
        header = " (line 1 is the header)" if source == "csv" else ""
        written = f"; the answers before it are in {output}" if output else ""
        common.fail(
            f"{file}: {stop.record.message}{header}{written}. "
            "--on-error skip answers the other rows",
            stop.record.error.code if stop.record.error else "BadData",
            as_json=False,
        )
    except ForwardpassError as exc:
        common.fail(exc.message, exc.code, as_json=False)
    except ValueError as exc:  # the file's own syntax
        common.fail(f"{file}: {exc}", "BadData", as_json=False)
    if failed:
        print(
            f"{failed} of {len(records)} rows failed: their errorCode and errorMessage are in "
            "the output",
            file=sys.stderr,
        )


class _Stopped(Exception):
    def __init__(self, record: Record) -> None:
        super().__init__(record.message)
        self.record = record


def _check_kept(kept: list[str], deployment: Deployment) -> None:
    taken = {f.name for f in deployment.feature_specs_out} | set(ERROR_COLUMNS)
    clash = [name for name in kept if name in taken]
    if clash:
        raise FeatureNotFound(
            f"--keep {', '.join(clash)}: the answers have a column of that name already"
        )


def _outcomes(records: Iterable[Record], skip: bool) -> Iterator[dict[str, Any]]:
    """What is written for each record: kept columns, then its answer or its error."""
    for record in records:
        if record.error is None:
            assert record.answer is not None
            yield {**record.kept, **_plain(record.answer)}
        elif skip:
            yield {**record.kept, "errorCode": record.error.code, "errorMessage": record.message}
        else:
            raise _Stopped(record)


def read_records(text: str, kind: str, inputs: list[FeatureSpec], kept: list[str]) -> list[Record]:
    """The rows of a CSV, JSON or JSON Lines text, keeping only the deployment's inputs
    (and the `kept` columns beside them), each named by its place in the file."""
    if kind == "csv":
        return list(_from_csv(text, inputs, kept))
    names = {f.name for f in inputs}
    if kind == "jsonl":
        items: list[tuple[str, Any]] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append((f"line {number}", json.loads(line)))
                except ValueError as exc:
                    items.append((f"line {number}", JsonParsingError(f"not JSON: {exc}")))
    else:
        data = json.loads(text)
        rows = data["rows"] if isinstance(data, dict) and "rows" in data else data
        if not isinstance(rows, list):
            raise ValueError('expected a list of rows or {"rows": [...]}')
        items = [(f"item {number}", item) for number, item in enumerate(rows, start=1)]
    records = []
    for where, item in items:
        if isinstance(item, ForwardpassError):
            record = Record(where, None)
            record.fail(item)
        elif isinstance(item, dict):
            row = {k: v for k, v in item.items() if k in names}
            record = Record(where, row, {k: item.get(k) for k in kept})
        else:
            record = Record(where, item, dict.fromkeys(kept))  # the client names what it is
        records.append(record)
    return records


def _from_csv(text: str, inputs: list[FeatureSpec], kept: list[str]) -> Iterator[Record]:
    # Each cell is read as the feature's codec reads a form field: "0.4" is a number for a
    # numeric feature and stays a string for a text or categorical one.
    codecs = {f.name: f.codec() for f in inputs}
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    absent = [name for name in kept if name not in header]
    if absent:
        raise FeatureNotFound(
            f"--keep {', '.join(absent)}: not a column of the file; its columns are "
            + ", ".join(header)
        )
    last = reader.line_num  # a quoted cell may span lines: a row begins after the last one
    for values in reader:
        where, last = f"line {last + 1}", reader.line_num
        if not values:
            continue  # a blank line
        cells = dict(zip(header, values, strict=False))
        record = Record(where, {}, {name: cells.get(name, "") for name in kept})
        for name, codec in codecs.items():
            if name not in cells:
                continue  # the client names the missing feature and its row
            try:
                record.row[name] = codec.from_form(cells[name]) if codec else cells[name]
            except ForwardpassError as exc:
                record.fail(exc)
                break
        yield record


def write(
    answers: Iterable[dict[str, Any]], kind: str, sink: TextIO, *, errors: bool = False
) -> None:
    """Answers as CSV (categorical scores as NAME.LABEL columns), JSON or JSON Lines.

    With `errors`, a CSV has the columns errorCode and errorMessage, empty for answers."""
    if kind == "jsonl":
        for answer in answers:
            sink.write(json.dumps(answer) + "\n")
    elif kind == "json":
        sink.write('{"rows": [')
        for i, answer in enumerate(answers):
            sink.write(("," if i else "") + "\n" + json.dumps(answer))
        sink.write("\n]}\n")
    else:
        _write_csv(answers, sink, list(ERROR_COLUMNS) if errors else [])


def _write_csv(answers: Iterable[dict[str, Any]], sink: TextIO, extra: list[str]) -> None:
    # The header comes from the first answer: errors before it wait for it.
    writer: csv.DictWriter[str] | None = None
    waiting: list[dict[str, Any]] = []
    for answer in answers:
        flat = _flat(answer)
        if writer is None and "errorCode" in flat:
            waiting.append(flat)
            continue
        if writer is None:
            writer = csv.DictWriter(
                sink, fieldnames=list(flat) + extra, lineterminator="\n", restval=""
            )
            writer.writeheader()
            writer.writerows(waiting)
        writer.writerow(flat)
    if writer is None and waiting:  # no answer at all: the kept columns and the errors
        names = [k for k in waiting[0] if k not in ERROR_COLUMNS] + extra
        writer = csv.DictWriter(sink, fieldnames=names, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(waiting)


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
