"""Fixtures shared by the suite. End-to-end tests start real servers; see support.py."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import models
from tests.support import Server, cli_env, cli_json

POSTGRES_URL = os.environ.get(
    "FORWARDPASS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def pytest_collection_finish(session: pytest.Session) -> None:
    """The container image takes minutes to build: when its tests are to run, its build
    starts now, beside the tests that run before them (tests/deploy/image_build.py)."""
    if any(item.path.name == "test_image.py" for item in session.items):
        from tests.deploy.image_build import BUILD

        BUILD.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    from tests.deploy.image_build import BUILD

    BUILD.stop()


def require_service(name: str, host: str, port: int) -> None:
    """Fail (never skip) when a service the test needs is not there.

    Set FORWARDPASS_TEST_ALLOW_SKIP=1 on a machine without it to skip instead; CI never does.
    """
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        message = f"{name} is not reachable at {host}:{port} ({exc})"
        if os.environ.get("FORWARDPASS_TEST_ALLOW_SKIP") == "1":
            pytest.skip(message)
        pytest.fail(message)


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The toy models, built once per session."""
    root = tmp_path_factory.mktemp("models")
    return {
        "demo": models.demo_model(root / "weight.onnx"),
        "iris": models.iris_classifier(root / "iris.onnx"),
        "two": models.two_outputs(root / "two.onnx"),
        "tensor": models.tensor_model(root / "tensor.onnx"),
    }


@pytest.fixture(scope="session")
def served(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, Path]
) -> Iterator[dict[str, Any]]:
    """One server for the session, with a deployment of each toy model.

    Yields {"server": Server, "data_dir": Path, <model>: {"id", "url", "token"}}.
    Tests that change a deployment's state create their own deployment instead.
    """
    data_dir = tmp_path_factory.mktemp("served")
    found: dict[str, Any] = {"data_dir": data_dir}
    for key, path in model_files.items():
        cli_json(data_dir, "model", "import", str(path), "--name", key)
        found[key] = cli_json(data_dir, "deployment", "create", key)
    server = Server(data_dir)
    found["server"] = server
    for key in model_files:
        found[key]["url"] = server.url(found[key]["id"])
    yield found
    server.stop()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import sqlalchemy as sa

    admin = sa.create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    name = f"fp_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def managed(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, Path]
) -> Iterator[dict[str, Any]]:
    """A server with a known admin token and models demo, iris, and scaled:1..3.

    scaled:1 answers x, scaled:2 answers 2x (it fits scaled:1); scaled:3 takes three numbers
    (it does not fit). Tests create the deployments they change.
    """
    data_dir = tmp_path_factory.mktemp("managed")
    for key in ("demo", "iris"):
        cli_json(data_dir, "model", "import", str(model_files[key]), "--name", key)
    for factor, width in ((1.0, 2), (2.0, 2), (1.0, 3)):
        path = models.scaled(data_dir / f"scaled-{factor}-{width}.onnx", factor, width)
        cli_json(data_dir, "model", "import", str(path), "--name", "scaled")
    # Many tests send wrong admin tokens from one address; throttling is tested on its own.
    env = cli_env(
        data_dir, FORWARDPASS_ADMIN_TOKEN=ADMIN_TOKEN, FORWARDPASS_ADMIN_FAILURES_PER_CLIENT="0"
    )
    server = Server(data_dir, env=env)
    yield {"server": server, "data_dir": data_dir, "admin": ADMIN_TOKEN}
    server.stop()
