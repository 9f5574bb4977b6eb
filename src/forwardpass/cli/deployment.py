"""`forwardpass deployment ...`: create and run deployments."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from forwardpass.cli import common
from forwardpass.limits.plan import LimitOverrides
from forwardpass.model.signature import TRANSFORMATIONS
from forwardpass.runtime import load_check
from forwardpass.services import descriptions as describe
from forwardpass.services.changes import apply_changes
from forwardpass.services.lookup import find_deployment

app = typer.Typer(help="Create and run deployments.", no_args_is_help=True)

Id = Annotated[
    str,
    typer.Argument(
        help="The deployment: its ID, a unique prefix of the ID, or its name if unique.",
        show_default=False,
    ),
]
ImageTransformation = Annotated[
    str | None,
    typer.Option(
        help="How image inputs are fitted to the model's size: "
        + ", ".join(TRANSFORMATIONS)
        + "; 'default': the model's own.",
        show_default=False,
    ),
]


def limits_text(own: dict[str, Any], effective: dict[str, Any]) -> str:
    """The limits a deployment runs under, each marked "(plan)" unless it is its own."""
    shown: dict[str, Any] = dict(effective)
    if not shown["rate"]:
        # A rate of 0 is no rate limit, so a burst above it means nothing.
        shown["rate"] = "no limit"
        del shown["burst"]
    shown["run_timeout"] = f"{shown['run_timeout']:g} s"
    return ", ".join(f"{k} {v}{'' if own[k] is not None else ' (plan)'}" for k, v in shown.items())


def _print(data: dict[str, Any]) -> None:
    hidden = {"api_names", "limits", "effective_limits", "usage", "features", "spec_url"}
    hidden |= {"model_name", "model_version"}
    text = {k: v for k, v in data.items() if k not in hidden}
    if text.get("load_error") is None:
        text.pop("load_error", None)
    text["limits"] = limits_text(data["limits"], data["effective_limits"])
    text["execution_providers"] = ", ".join(data["execution_providers"])
    if "usage" in data:
        u = data["usage"]
        errors = ", ".join(f"{k} {v}" for k, v in u["errors"].items()) or "none"
        text["usage"] = f"{u['requests']} requests, {u['rows']} rows, errors: {errors}"
        if u["rate_limit_unchecked"]:
            text["usage"] += f"; {u['rate_limit_unchecked']} not rate limited (Redis down)"
    common.fields(text)
    if "token" in data:
        common.out.print("[dim]The token is shown only now; keep it.[/]")


@app.command()
def create(
    model: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (default: newest).")],
    name: Annotated[str | None, typer.Option(help="Deployment name; default: the model's.")] = None,
    disabled: Annotated[bool, typer.Option(help="Create it disabled.")] = False,
    image_transformation: ImageTransformation = None,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Deploy a model version; prints its ID, URL and token."""
    with common.opened(data_dir, database_url, as_json=json) as (config, registry):
        deployment, token = registry.create_deployment(
            model, name, enabled=not disabled, image_transformation=image_transformation
        )
        data = describe.deployment_data(registry, config, deployment, token)
        common.emit(data, json, lambda: _print(data))


@app.command("list")
def list_(
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """List deployments."""
    with common.opened(data_dir, database_url, as_json=json) as (config, registry):
        found = [describe.deployment_data(registry, config, d) for d in registry.deployments()]
        common.emit(
            found,
            json,
            lambda: common.table(
                ["ID", "NAME", "MODEL", "STATUS", "CREATED"],
                [
                    [d["id"], d["name"], d["model"], d["status"], d["created_at"][:16]]
                    for d in found
                ],
            ),
        )


@app.command()
def show(
    deployment_id: Id,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Show one deployment, its limits and its usage."""
    with common.opened(data_dir, database_url, as_json=json) as (config, registry):
        deployment = find_deployment(registry, deployment_id)
        # Tried as a server would (0.2 s): a model stored before the import checked it,
        # or one this machine cannot load.
        problem = (
            load_check.problem(
                registry.store.path(deployment.model.sha256),
                memory_mb=config.model_load_memory_mb,
                seconds=config.model_load_seconds,
            )
            if deployment.enabled
            else None
        )
        data = describe.deployment_data(registry, config, deployment, load_error=problem)
        common.emit(data, json, lambda: _print(data))


@app.command()
def update(
    deployment_id: Id,
    model: Annotated[
        str | None, typer.Option(help="Switch to this NAME:VERSION of its model.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    image_transformation: ImageTransformation = None,
    max_body_bytes: Annotated[
        int | None, typer.Option(min=1, help="Largest request body, in bytes.")
    ] = None,
    max_rows: Annotated[int | None, typer.Option(min=1, help="Most rows a request.")] = None,
    rate: Annotated[
        float | None, typer.Option(min=0, help="Requests a second; 0: no limit.")
    ] = None,
    burst: Annotated[
        int | None, typer.Option(min=0, help="Requests at once above the rate; 0: rate.")
    ] = None,
    run_timeout: Annotated[
        float | None,
        typer.Option(min=0, help="Seconds one model call may run; then its requests get 504."),
    ] = None,
    plan_limits: Annotated[
        bool, typer.Option("--plan-limits", help="Back to the plan's limits, then the options.")
    ] = False,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Change a deployment: its model version, name, limits or image transformation.

    Its URL and token stay.

    A new version must fit the deployment's inputs and outputs. Running servers apply every
    change within a second, all of it or, if any part is refused, none.
    """
    given = {
        "max_body_bytes": max_body_bytes,
        "max_rows": max_rows,
        "rate": rate,
        "burst": burst,
        "run_timeout": run_timeout,
    }
    limits = dict.fromkeys(LimitOverrides.names()) if plan_limits else {}
    limits.update({k: v for k, v in given.items() if v is not None})
    given_names = {"model": model, "name": name, "image_transformation": image_transformation}
    # `--name ""` is a change, refused as such, not "nothing to update".
    change: dict[str, Any] = {k: v for k, v in given_names.items() if v is not None}
    if limits:
        change["limits"] = limits
    if not change:
        common.fail("nothing to update: give at least one option", "BadData", as_json=json)
    with common.opened(data_dir, database_url, as_json=json) as (config, registry):
        changed = apply_changes(registry, find_deployment(registry, deployment_id).id, change)
        data = describe.deployment_data(registry, config, changed)
        common.emit(data, json, lambda: _print(data))


def _set_enabled(
    deployment_id: str, enabled: bool, data_dir: Any, database_url: Any, json: bool
) -> None:
    with common.opened(data_dir, database_url, as_json=json) as (config, registry):
        changed = registry.set_enabled(find_deployment(registry, deployment_id).id, enabled)
        data = describe.deployment_data(registry, config, changed)
        common.emit(data, json, lambda: common.out.print(f"{data['id']} is {data['status']}"))


@app.command()
def enable(
    deployment_id: Id,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Enable a deployment: it answers predictions."""
    _set_enabled(deployment_id, True, data_dir, database_url, json)


@app.command()
def disable(
    deployment_id: Id,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Disable a deployment: queries will be denied."""
    _set_enabled(deployment_id, False, data_dir, database_url, json)


@app.command("rotate-token")
def rotate_token(
    deployment_id: Id,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Give a deployment a new token; the old one stops working."""
    with common.opened(data_dir, database_url, as_json=json) as (config, registry):
        deployment, token = registry.rotate_token(find_deployment(registry, deployment_id).id)
        data = describe.deployment_data(registry, config, deployment, token)
        common.emit(data, json, lambda: _print(data))


@app.command()
def delete(
    deployment_id: Id,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Delete a disabled deployment."""
    with common.opened(data_dir, database_url, as_json=json) as (_config, registry):
        found = find_deployment(registry, deployment_id)
        registry.delete_deployment(found.id)
        common.emit(
            {"id": found.id, "deleted": True},
            json,
            lambda: common.out.print(f"deleted {found.id} ({found.name})"),
        )
