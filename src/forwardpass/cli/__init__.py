"""The `forwardpass` command line: a thin layer over the registry and the app factory."""

from __future__ import annotations

import json as jsonlib
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from forwardpass import __version__
from forwardpass.cli import common, deployment, model, predict
from forwardpass.errors import ForwardpassError
from forwardpass.registry import Registry, tokens
from forwardpass.registry import migrate as migrations
from forwardpass.runtime import providers, usable_cores
from forwardpass.settings import SETTINGS_HELP, Settings

app = typer.Typer(
    help="forwardpass: serve trained models over the Peltarion Deployment API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(shown: bool) -> None:
    if shown:
        print(f"forwardpass {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """forwardpass: serve trained models over the Peltarion Deployment API."""


app.add_typer(model.app, name="model")
app.add_typer(deployment.app, name="deployment")
app.command("predict")(predict.predict)


def _announce_admin(config: Settings, registry: Registry) -> None:
    """Print the admin token if this start generated it: the only time it is shown."""
    new_admin = registry.admin.ensure(config.admin_token)
    if new_admin is not None:
        common.out.print(
            f"[bold]Admin token[/] (shown once; log in at {config.base_url}/login): {new_admin}",
            highlight=False,
            soft_wrap=True,
        )


def _run(config: Settings, registry: Registry) -> None:
    # The server's modules (uvicorn, Starlette, the pages) are imported by the commands that
    # serve, not by every command: they were a third of each CLI call's start.
    import uvicorn

    from forwardpass.server import create_app
    from forwardpass.server import workers as workers_mod
    from forwardpass.server.app import configure_logging

    configure_logging(config)
    try:
        server_app = create_app(config, registry)
    except ForwardpassError as exc:
        common.fail(exc.message, exc.code, as_json=False)
    uvicorn.run(server_app, **workers_mod.uvicorn_options(config))


Workers = Annotated[
    int | None, typer.Option(help=SETTINGS_HELP["workers"], show_default=False, min=0)
]


@app.command()
def serve(
    host: common.Host = None,
    port: common.Port = None,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    workers: Workers = None,
) -> None:
    """Serve every deployment in the registry."""
    config = common.settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        workers=workers,
        as_json=False,
    )
    count = config.worker_count(usable_cores())
    try:
        providers.chosen(config.execution_providers)  # here too: the workers would only die
    except ForwardpassError as exc:
        common.fail(exc.message, exc.code, as_json=False)
    with common.registry(config, as_json=False) as registry:
        _announce_admin(config, registry)
        if count > 1 and not config.redis_url:
            common.err.print(
                f"note: {count} workers without FORWARDPASS_REDIS_URL: each worker applies "
                "the rate limits on its own, so together they let up to "
                f"{count} times the rate through",
                highlight=False,
            )
        if count == 1:
            _run(config, registry)
            return
    # The workers open the registry themselves; the check above made sure it opens.
    from forwardpass.server import workers as workers_mod

    workers_mod.run(config, count)


@app.command()
def migrate(
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Bring the registry database to the newest schema. Safe when several run at once (they
    take turns under a PostgreSQL advisory lock); on Kubernetes, the Job before a rollout."""
    config = common.settings(data_dir=data_dir, database_url=database_url, as_json=json)
    with common.registry(config, as_json=json, migrating=True) as registry:
        revision = migrations.current(registry.engine)
        common.emit(
            {"revision": revision},
            json,
            lambda: common.out.print(f"The registry is at schema revision {revision}."),
        )


def _kept_token(path: Path, token_hash: str) -> str | None:
    """The demo's token as an earlier run kept it, if it still opens the deployment."""
    try:
        token = path.read_text().strip()
    except OSError:
        return None
    return token if tokens.matches(token, token_hash) else None


def _keep_token(path: Path, token: str) -> None:
    """Keep the demo's token beside the registry, readable by its owner only, so that a
    second `forwardpass demo` answers the same curl command. The registry itself stores
    only the token's hash; this file is the demo's convenience, never a deployment's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token)


def curl_command(url: str, token: str, rows: list[dict[str, object]] | None = None) -> str:
    from forwardpass.demos import tabular as demo_model

    body = jsonlib.dumps({"rows": demo_model.EXAMPLE_ROWS if rows is None else rows})
    return (
        f"curl -sS -X POST {shlex.quote(url)} -H 'Authorization: Bearer {token}' "
        f"-H 'Content-Type: application/json' -d {shlex.quote(body)}"
    )


@app.command()
def demo(
    host: common.Host = None,
    port: common.Port = None,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
    image: Annotated[
        bool, typer.Option("--image", help="The image demo: a handwritten-digit classifier.")
    ] = False,
) -> None:
    """Train the contract's example model now, deploy it, print how to call it, and serve."""
    # Training needs scikit-learn and pandas; only this command pays for importing them.
    from forwardpass.demos import digits as demo_image
    from forwardpass.demos import tabular

    demo_model: Any = demo_image if image else tabular
    rows = demo_image.example_rows() if image else None
    config = common.settings(
        host=host, port=port, data_dir=data_dir, database_url=database_url, as_json=json
    )
    with common.registry(config, as_json=json) as registry:
        version = registry.add_model(demo_model.model().SerializeToString(), demo_model.MODEL_NAME)
        existing = [d for d in registry.deployments() if d.name == demo_model.DEPLOYMENT_NAME]
        kept = config.data_dir / f"{demo_model.DEPLOYMENT_NAME}.token"
        if existing:
            # Reuse it, so that its URL stays, and its token while the data dir keeps it.
            found = existing[0]
            token = _kept_token(kept, found.token_hash)
            if token is None:
                found, token = registry.rotate_token(found.id)
            if not found.enabled:
                found = registry.set_enabled(found.id, True)
        else:
            found, token = registry.create_deployment(
                version.ref, demo_model.DEPLOYMENT_NAME, created_by="forwardpass demo"
            )
        _keep_token(kept, token)
        url = config.forward_url(found.id)
        info = {
            "url": url,
            "token": token,
            "deployment_id": found.id,
            "model": found.model.ref,
            "curl": curl_command(url, token, rows),
        }
        if json:
            print(jsonlib.dumps(info), flush=True)
        else:
            common.fields({k: v for k, v in info.items() if k != "curl"})
            common.out.print("\nTry it:\n")
            print(info["curl"], flush=True)
            common.out.print("")
        _announce_admin(config, registry)
        _run(config, registry)


def main() -> None:
    if "--json" not in sys.argv[1:]:
        app()
        return
    # Scripts read errors from stderr as JSON: usage errors (a missing argument, a bad
    # option) too, in the shape of every other error, instead of click's boxed text.
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:  # click's usage errors, as typer vendors them
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        common.print_error(message, "UsageError", as_json=True)
        sys.exit(int(getattr(exc, "exit_code", 2)))
    sys.exit(code if isinstance(code, int) else 0)
