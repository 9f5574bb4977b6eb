"""What every command shares: the registry options, output as text or JSON, clean errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from forwardpass.errors import ForwardpassError
from forwardpass.registry import Registry, outage
from forwardpass.settings import SETTINGS_HELP, Settings, env_name

DataDir = Annotated[
    Path | None,
    typer.Option(help=SETTINGS_HELP["data_dir"], envvar=env_name("data_dir"), show_default=False),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help=SETTINGS_HELP["database_url"], envvar=env_name("database_url"), show_default=False
    ),
]
Host = Annotated[str | None, typer.Option(help=SETTINGS_HELP["host"], show_default=False)]
Port = Annotated[int | None, typer.Option(help=SETTINGS_HELP["port"], show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]

# Piped output keeps long values (IDs, URLs) whole instead of cut at 80 columns.
out = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 240)


def settings(*, as_json: bool, **given: Any) -> Settings:
    """The command's settings; a bad one fails as every error of the command does."""
    try:
        return Settings.load(**given)
    except ValueError as exc:
        fail(str(exc), "BadSetting", as_json=as_json)
        raise  # unreachable: fail exits


def print_error(message: str, code: str, *, as_json: bool) -> None:
    """An error on stderr: one JSON line in the contract's shape, or a line for people."""
    if as_json:
        print(json.dumps({"errorCode": code, "errorMessage": message}), file=sys.stderr)
    else:
        err.print(f"[bold red]error:[/] {message}", highlight=False)


def fail(message: str, code: str, *, as_json: bool) -> None:
    print_error(message, code, as_json=as_json)
    raise typer.Exit(1)


@contextmanager
def registry(
    config: Settings, *, as_json: bool, migrating: bool | None = None
) -> Iterator[Registry]:
    """The registry, with forwardpass errors turned into a message and exit code 1."""
    opened: Registry | None = None
    try:
        with outage.translated():
            opened = Registry.open(config, migrating=migrating)
            yield opened
    except ForwardpassError as exc:
        fail(exc.message, exc.code, as_json=as_json)
    finally:
        if opened is not None:
            opened.close()


@contextmanager
def opened(
    data_dir: Path | None, database_url: str | None, *, as_json: bool
) -> Iterator[tuple[Settings, Registry]]:
    """The settings of a registry command and its registry, opened as `registry` does."""
    config = settings(data_dir=data_dir, database_url=database_url, as_json=as_json)
    with registry(config, as_json=as_json) as found:
        yield config, found


def emit(data: Any, as_json: bool, text: Callable[[], None]) -> None:
    """Print `data` as one JSON line for scripts, or call `text` to print it for people."""
    if as_json:
        print(json.dumps(data, default=str), flush=True)
    else:
        text()


def table(columns: list[str], rows: list[list[Any]]) -> None:
    grid = Table(*columns, box=None, pad_edge=False, header_style="bold")
    for row in rows:
        grid.add_row(*(str(c) for c in row))
    out.print(grid)


def fields(pairs: dict[str, Any]) -> None:
    width = max(len(k) for k in pairs)
    for key, value in pairs.items():
        out.print(f"[bold]{key.ljust(width)}[/]  {value}", highlight=False, soft_wrap=True)
