"""`forwardpass deployment ...`: create and run deployments."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from forwardpass.cli import common
from forwardpass.registry import Deployment
from forwardpass.settings import Settings

app = typer.Typer(help="Create and run deployments.", no_args_is_help=True)

Id = Annotated[str, typer.Argument(help="The deployment ID.", show_default=False)]


def described(deployment: Deployment, config: Settings, token: str | None = None) -> dict[str, Any]:
    data = deployment.to_dict()
    data["url"] = config.forward_url(deployment.id)
    if token is not None:
        data["token"] = token
    return data


def _print(data: dict[str, Any]) -> None:
    shown = {k: v for k, v in data.items() if k != "api_names"}
    common.fields(shown)
    if "token" in data:
        common.out.print("[dim]The token is shown only now; keep it.[/]")


@app.command()
def create(
    model: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (default: newest).")],
    name: Annotated[str | None, typer.Option(help="Deployment name; default: the model's.")] = None,
    disabled: Annotated[bool, typer.Option(help="Create it disabled.")] = False,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Deploy a model version; prints its ID, URL and token."""
    config = common.settings(data_dir=data_dir, database_url=database_url)
    with common.registry(config, as_json=json) as registry:
        deployment, token = registry.create_deployment(model, name, enabled=not disabled)
        data = described(deployment, config, token)
        common.emit(data, json, lambda: _print(data))


@app.command("list")
def list_(
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """List deployments."""
    config = common.settings(data_dir=data_dir, database_url=database_url)
    with common.registry(config, as_json=json) as registry:
        found = [described(d, config) for d in registry.deployments()]
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
    """Show one deployment."""
    config = common.settings(data_dir=data_dir, database_url=database_url)
    with common.registry(config, as_json=json) as registry:
        data = described(registry.deployment(deployment_id), config)
        common.emit(data, json, lambda: _print(data))


def _set_enabled(
    deployment_id: str, enabled: bool, data_dir: Any, database_url: Any, json: bool
) -> None:
    config = common.settings(data_dir=data_dir, database_url=database_url)
    with common.registry(config, as_json=json) as registry:
        data = described(registry.set_enabled(deployment_id, enabled), config)
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
    config = common.settings(data_dir=data_dir, database_url=database_url)
    with common.registry(config, as_json=json) as registry:
        deployment, token = registry.rotate_token(deployment_id)
        data = described(deployment, config, token)
        common.emit(data, json, lambda: _print(data))


@app.command()
def delete(
    deployment_id: Id,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Delete a disabled deployment."""
    config = common.settings(data_dir=data_dir, database_url=database_url)
    with common.registry(config, as_json=json) as registry:
        registry.delete_deployment(deployment_id)
        common.emit(
            {"id": deployment_id, "deleted": True},
            json,
            lambda: common.out.print(f"deleted {deployment_id}"),
        )


@app.command()
def update(
    deployment_id: Id,
    model: Annotated[
        str | None, typer.Option(help="Switch to this NAME:VERSION of its model.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="A new name.")] = None,
    data_dir: common.DataDir = None,
    database_url: common.DatabaseUrl = None,
    json: common.Json = False,
) -> None:
    """Change a deployment; its URL and token stay. A version must fit its inputs and outputs."""
    from forwardpass.registry.changes import apply_changes

    change = {k: v for k, v in {"model": model, "name": name}.items() if v is not None}
    config = common.settings(data_dir=data_dir, database_url=database_url)
    with common.registry(config, as_json=json) as registry:
        data = described(apply_changes(registry, deployment_id, change), config)
        common.emit(data, json, lambda: _print(data))
