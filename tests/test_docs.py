"""The README documents every command, setting and endpoint there is."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import typer.main
from starlette.routing import Route

from forwardpass.cli import app
from forwardpass.server import create_app
from forwardpass.settings import Settings, env_name

README = (Path(__file__).parent.parent / "README.md").read_text()


def commands(group: Any, prefix: str) -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):  # a group of commands
            found.extend(commands(command, path))
        else:
            found.append(path)
    return found


def test_every_cli_command_is_in_the_readme():
    group = typer.main.get_command(app)
    listed = commands(group, "forwardpass")
    assert "forwardpass deployment rotate-token" in listed
    missing = [c for c in listed if c not in README]
    assert not missing, f"commands missing from the README: {missing}"


def test_every_setting_is_in_the_readme():
    missing = [env_name(f.name) for f in fields(Settings) if env_name(f.name) not in README]
    assert not missing, f"settings missing from the README: {missing}"


def test_every_endpoint_is_in_the_readme(tmp_path):
    server = create_app(Settings(data_dir=tmp_path))
    # The pages of the deployment view are for people, and their form posts are theirs.
    paths = [
        r.path
        for r in server.routes
        if isinstance(r, Route) and not r.endpoint.__module__.startswith("forwardpass.web")
    ]
    documented = [p.replace("{deployment_id}", "{id}") for p in paths]
    missing = [p for p in documented if f"`{p}`" not in README and f" {p}`" not in README]
    assert not missing, f"endpoints missing from the README: {missing}"
