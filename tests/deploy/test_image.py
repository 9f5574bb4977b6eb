"""The container image, built from the Containerfile and run as Kubernetes runs it: a
read-only root, no capabilities, its own non-root user, one CPU. The test creates a
deployment through the management API of the image's own `forwardpass serve` and gets a
prediction over HTTP. How the image is built, and why it starts early: image_build.py.
"""

from __future__ import annotations

import json
import os
import re
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import models
from tests.deploy.image_build import BUILD, podman
from tests.support import bearer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ADMIN = "container-test-admin-token-0123456789"


@pytest.fixture(scope="module")
def image() -> str:
    return BUILD.image()


def limits() -> list[str]:
    """rlimits no higher than this process's: podman's defaults are, and this kind of
    machine refuses to raise them for the container."""
    found = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, _ = resource.getrlimit(which)
        value = 4096 if soft == resource.RLIM_INFINITY else min(soft, 4096)
        found.append(f"--ulimit={name}={value}:{value}")
    return found


# As the Kubernetes manifests run the pods: read-only root, no capabilities, no new ones.
LOCKED_DOWN = ("--read-only", "--tmpfs=/tmp", "--cap-drop=ALL", "--security-opt=no-new-privileges")


@contextmanager
def started(image: str, base: str, *options: str) -> Iterator[str]:
    """The image's entry point in a container, with `options`, until it answers `base`."""
    name = f"forwardpass-test-{uuid.uuid4().hex[:8]}"
    podman("run", "--detach", f"--name={name}", *limits(), *LOCKED_DOWN, *options, image)
    try:
        wait_ready(name, base)
        yield name
    finally:
        podman("rm", "--force", "--volumes", "--time=5", name, check=False)


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[dict[str, Any]]:
    """The image as it is, published on a loopback port of this machine (so it listens on
    the container's every address, not its loopback), with one CPU, on its own SQLite."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = (f"--env=FORWARDPASS_ADMIN_TOKEN={ADMIN}", "--env=FORWARDPASS_DRAIN_SECONDS=1")
    with started(image, base, "--cpus=1", *env, f"--publish=127.0.0.1:{port}:8000") as name:
        yield {"name": name, "base": base}


def wait_ready(name: str, base: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = podman("inspect", "--format={{.State.Status}}", name).stdout.strip()
        if state not in ("created", "running"):
            pytest.fail(f"the container is {state}:\n{podman('logs', name).stderr}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the container did not become ready:\n{podman('logs', name).stderr}")


def deploy_and_predict(base: str, model: Path) -> None:
    """Import `model` (y = 2.5 x) through the management API, deploy it, predict."""
    admin = bearer(ADMIN)
    r = httpx.post(
        f"{base}/api/v1/models",
        headers=admin,
        files={"file": ("scaled.onnx", model.read_bytes())},
        data={"name": "scaled"},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    r = httpx.post(
        f"{base}/api/v1/deployments", headers=admin, json={"model": r.json()["ref"]}, timeout=30
    )
    assert r.status_code == 201, r.text
    deployment = r.json()

    rows = [[1.0, -2.0], [0.25, 40.0]]
    url = f"{base}/deployment/{deployment['id']}/forward"
    # The new deployment reaches the served table within the refresh interval.
    deadline = time.monotonic() + 10
    while True:
        r = httpx.post(
            url, json={"rows": [{"x": x} for x in rows]}, headers=bearer(deployment["token"])
        )
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    assert [row["y"]["data"] for row in r.json()["rows"]] == [[2.5 * v for v in x] for x in rows]


def test_the_image_serves_a_deployment_made_through_its_management_api(container, tmp_path):
    deploy_and_predict(container["base"], models.scaled(tmp_path / "scaled.onnx", 2.5))


def test_it_runs_as_its_own_user_and_fits_onnx_runtime_to_the_cpu_quota(container):
    name = container["name"]
    assert podman("exec", name, "id", "-u").stdout.strip() == "10001"
    code = "from forwardpass.runtime import usable_cores; print(usable_cores())"
    cores = int(podman("exec", name, "python3", "-c", code).stdout)
    # --cpus=1: one core, however many this machine has (it has more in CI).
    assert cores == 1, f"{cores} usable cores under a one-CPU quota ({os.cpu_count()} here)"


def test_its_health_check_passes(container):
    assert podman("healthcheck", "run", container["name"], check=False).returncode == 0


def test_sigterm_stops_it_cleanly(container):
    name = container["name"]
    podman("stop", "--time=60", name, timeout=90)
    state = json.loads(podman("inspect", "--format={{json .State}}", name).stdout)
    assert state["ExitCode"] == 0, podman("logs", name).stderr
    assert "Finished server process" in podman("logs", name).stderr


def test_the_migration_job_then_a_node_on_postgresql(image, postgres_url, tmp_path):
    """The Kubernetes flow: `migrate` once, then a node that does not migrate, keeps the
    registry (model bytes too) in PostgreSQL and only a cache on its own volume."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = (
        f"--env=FORWARDPASS_DATABASE_URL={postgres_url}",
        "--env=FORWARDPASS_MIGRATE_ON_START=false",
        f"--env=FORWARDPASS_ADMIN_TOKEN={ADMIN}",
    )
    # The host's network: PostgreSQL listens on this machine's loopback.
    podman("run", "--rm", "--network=host", *limits(), *LOCKED_DOWN, *env, image, "migrate")
    node = ("--network=host", *env, f"--env=FORWARDPASS_PORT={port}")
    with started(image, base, *node) as name:
        deploy_and_predict(base, models.scaled(tmp_path / "scaled.onnx", 2.5))
        found = podman("exec", name, "find", "/var/cache/forwardpass", "-type", "f").stdout
        cached = [Path(line).name for line in found.split()]
        assert any(re.fullmatch(r"[0-9a-f]{64}\.onnx", entry) for entry in cached), cached
