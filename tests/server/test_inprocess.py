"""The ASGI app in process, through httpx's ASGITransport: the same answers as over a socket,
for the paths that do not need the HTTP protocol's lane (any ASGI server serves them so)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from forwardpass.importers import onnx as importer
from forwardpass.registry import Registry
from forwardpass.server import create_app
from forwardpass.settings import Settings
from tests import models

ADMIN = "in-process-admin-token-0123456789"

Scenario = Callable[[httpx.AsyncClient, dict[str, Any]], Awaitable[None]]


@pytest.fixture
def run(tmp_path: Path) -> Callable[[Scenario], None]:
    """Run a scenario against a fresh app with one deployment of scaled:1 (y = x)."""
    settings = Settings(data_dir=tmp_path, admin_token=ADMIN, refresh_seconds=0.05)
    registry = Registry.open(settings)
    path = models.scaled(tmp_path / "scaled.onnx", 1.0)
    registry.add_model(importer.import_bytes(path.read_bytes()), "scaled")
    deployment, token = registry.create_deployment("scaled")
    found = {"id": deployment.id, "token": token}

    def go(scenario: Scenario) -> None:
        async def main() -> None:
            app = create_app(settings, registry)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://fp") as client:
                    await scenario(client, found)

        asyncio.run(main())

    return go


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_prediction_and_its_timing(run):
    async def scenario(client: httpx.AsyncClient, d: dict[str, Any]) -> None:
        r = await client.post(
            f"/deployment/{d['id']}/forward",
            json={"rows": [{"x": [1.5, -2.0]}, {"x": [0.0, 3.0]}]},
            headers=bearer(d["token"]),
        )
        assert r.status_code == 200, r.text
        assert [row["y"]["data"] for row in r.json()["rows"]] == [[1.5, -2.0], [0.0, 3.0]]
        phases = [p.split(";")[0] for p in r.headers["server-timing"].split(", ")]
        assert phases == ["decode", "queue", "infer", "encode"]

    run(scenario)


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"rows": [{"x": [1, 2]}]}', {"Authorization": "Bearer wrong"}, 401, "InvalidTokenError"),
        (b'{"rows": [{"x": [1, 2]}', None, 400, "JsonParsingError"),
        (b'{"rows": [{"z": [1, 2]}]}', None, 400, "FeatureNotFound"),
        (b"x=1", {"Content-Type": "text/plain"}, 415, "UnsupportedContentType"),
    ],
)
def test_errors_in_the_contracts_shape(run, body, headers, status, code):
    async def scenario(client: httpx.AsyncClient, d: dict[str, Any]) -> None:
        sent = {"Content-Type": "application/json", **bearer(d["token"]), **(headers or {})}
        r = await client.post(f"/deployment/{d['id']}/forward", content=body, headers=sent)
        assert r.status_code == status, r.text
        assert set(r.json()) == {"errorCode", "errorMessage"}
        assert r.json()["errorCode"] == code

    run(scenario)


def test_an_unknown_deployment_and_method(run):
    async def scenario(client: httpx.AsyncClient, d: dict[str, Any]) -> None:
        r = await client.post(
            "/deployment/00000000-0000-0000-0000-000000000000/forward",
            json={"rows": []},
            headers=bearer(d["token"]),
        )
        assert (r.status_code, r.json()["errorCode"]) == (404, "ResourceNotFound")
        r = await client.get(f"/deployment/{d['id']}/forward")
        assert (r.status_code, r.json()["errorCode"]) == (405, "MethodNotAllowed")

    run(scenario)


def test_the_management_api_changes_what_is_served(run):
    async def scenario(client: httpx.AsyncClient, d: dict[str, Any]) -> None:
        admin = bearer(ADMIN)
        shown = (await client.get(f"/api/v1/deployments/{d['id']}", headers=admin)).json()
        assert shown["status"] == "enabled" and "token" not in shown
        r = await client.patch(
            f"/api/v1/deployments/{d['id']}", json={"status": "disabled"}, headers=admin
        )
        assert r.status_code == 200 and r.json()["status"] == "disabled"
        for _ in range(100):  # the app's refresher picks the change up
            r = await client.post(
                f"/deployment/{d['id']}/forward",
                json={"rows": [{"x": [1, 2]}]},
                headers=bearer(d["token"]),
            )
            if r.status_code == 403:
                break
            await asyncio.sleep(0.02)
        assert r.json()["errorCode"] == "DeploymentNotEnabled"

    run(scenario)


def test_the_deployments_spec(run):
    async def scenario(client: httpx.AsyncClient, d: dict[str, Any]) -> None:
        r = await client.get(f"/deployment/{d['id']}/openapi.json", headers=bearer(d["token"]))
        assert r.status_code == 200
        row = r.json()["components"]["schemas"]["input-row"]["properties"]
        assert list(row) == ["x"]

    run(scenario)
