"""Three `forwardpass serve` nodes behind a real nginx, sharing PostgreSQL and Redis.

Each node has its own empty data folder: everything it serves comes from the registry
database (model bytes included) and reaches it through LISTEN/NOTIFY.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from forwardpass.registry import migrate
from tests import models
from tests.conftest import POSTGRES_URL, require_service
from tests.support import bearer, cli_env, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ADMIN = "cluster-admin-token-0123456789"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Node:
    """One `forwardpass serve` process; started without waiting, so that nodes start at once."""

    def __init__(self, data_dir: Path, env: dict[str, str], port: int | None = None) -> None:
        self.data_dir, self.env = data_dir, env
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.log = (self.data_dir / f"serve-{time.monotonic_ns()}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "forwardpass", "serve", "--port", str(self.port)],
            env={**self.env, "FORWARDPASS_DATA_DIR": str(self.data_dir)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, Path(self.log.name).read_text()
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"node {self.port} not ready:\n{Path(self.log.name).read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


NGINX_CONF = """
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream nodes {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://nodes;
            # A prediction changes nothing: one that a stopping node refused is sent to
            # another (README, "Several machines").
            proxy_next_upstream error timeout non_idempotent;
        }}
    }}
}}
"""


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh database for the module, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    admin = sa.create_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    name = f"fp_cluster_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[dict[str, Any]]:
    require_service("Redis", "127.0.0.1", 6379)
    if not Path(NGINX).exists():
        pytest.fail(f"nginx is not installed ({NGINX}); .ci/run installs Debian's package")
    root = tmp_path_factory.mktemp("cluster")
    env = cli_env(
        root,
        FORWARDPASS_DATABASE_URL=database,
        FORWARDPASS_REDIS_URL="redis://127.0.0.1:6379/0",
        FORWARDPASS_REDIS_PREFIX=f"fp-cluster-{uuid.uuid4().hex[:8]}:",
        FORWARDPASS_ADMIN_TOKEN=ADMIN,
        FORWARDPASS_ADMIN_FAILURES_PER_CLIENT="0",
        FORWARDPASS_MIGRATE_ON_START="false",
        FORWARDPASS_DRAIN_SECONDS="1",
        FORWARDPASS_USAGE_FLUSH_SECONDS="0.5",
        FORWARDPASS_EXECUTION_PROVIDERS="CPUExecutionProvider",
        FORWARDPASS_WORKERS="1",
        # Polling that slow cannot meet the second: only LISTEN/NOTIFY can.
        FORWARDPASS_REFRESH_SECONDS="60",
    )
    # Two migrations at once, as two nodes' Jobs or init containers may run.
    migrations = [
        subprocess.Popen(
            [sys.executable, "-m", "forwardpass", "migrate", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    migrated = [(m.wait(timeout=120), *m.communicate()) for m in migrations]
    nodes = []
    for index in range(3):
        (root / f"node{index}").mkdir()
        nodes.append(Node(root / f"node{index}", env))
    nginx_root = root / "nginx"
    nginx_root.mkdir()
    port = free_port()
    servers = "\n".join(
        f"        server 127.0.0.1:{n.port} max_fails=1 fail_timeout=1s;" for n in nodes
    )
    (nginx_root / "nginx.conf").write_text(
        NGINX_CONF.format(root=nginx_root, servers=servers, port=port)
    )
    nginx_log = (nginx_root / "stderr.log").open("w")
    nginx = subprocess.Popen(
        [NGINX, "-p", str(nginx_root), "-c", str(nginx_root / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=nginx_log,
    )
    try:
        for node in nodes:
            node.wait_ready()
        yield {
            "nodes": nodes,
            "nginx": f"http://127.0.0.1:{port}",
            "root": root,
            "env": env,
            "migrated": migrated,
        }
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        nginx_log.close()
        for node in nodes:
            node.stop()


def api(node: Node, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{node.base}/api/v1{path}", headers=bearer(ADMIN), **kwargs)


def forward(base: str, deployment: dict[str, Any], token: str | None = None) -> int:
    try:
        return httpx.post(
            f"{base}/deployment/{deployment['id']}/forward",
            headers=bearer(token or deployment["token"]),
            json={"rows": [deployment["row"]]},
            timeout=10,
        ).status_code
    except httpx.TransportError:
        return 0


def deploy(cluster: dict[str, Any], node: Node, **limits: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "scaled"}
    created = api(node, "POST", "/deployments", json=body)
    assert created.status_code == 201, created.text
    found = created.json()
    if limits:
        changed = api(node, "PATCH", f"/deployments/{found['id']}", json={"limits": limits})
        assert changed.status_code == 200, changed.text
    name = found["features"]["inputs"][0]["api_name"]
    return {"id": found["id"], "token": found["token"], "row": {name: [1.0, 2.0]}}


def within(seconds: float, condition: Any) -> float:
    """Seconds until `condition()` holds; fails past `seconds`."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_two_migrations_at_once_both_succeed(cluster):
    for code, out, err in cluster["migrated"]:
        assert code == 0, err
        assert json.loads(out)["revision"] == migrate.head()


def test_a_model_imported_through_one_node_is_served_by_all_within_a_second(cluster, tmp_path):
    one = cluster["nodes"][0]
    path = models.scaled(tmp_path / "scaled.onnx", 3.0)
    imported = api(
        one,
        "POST",
        "/models",
        files={"file": ("s.onnx", path.read_bytes())},
        data={"name": "scaled"},
    )
    assert imported.status_code == 201, imported.text
    deployment = deploy(cluster, one)
    took = within(
        1.0,
        lambda: (
            all(forward(n.base, deployment) == 200 for n in cluster["nodes"])
            and forward(cluster["nginx"], deployment) == 200
        ),
    )
    print(f"served by all three {took:.3f} s after it was created")
    for node in cluster["nodes"]:  # each fetched the bytes into its own, empty, data folder
        assert list((node.data_dir / "model-cache").rglob("*.onnx"))
        shown = api(node, "GET", f"/deployments/{deployment['id']}").json()
        assert shown["execution_providers"] == ["CPUExecutionProvider"]
    scraped = httpx.get(f"{cluster['nginx']}/metrics").text
    assert 'forwardpass_execution_provider{provider="CPUExecutionProvider"} 1.0' in scraped
    assert "forwardpass_queue_seconds_bucket" in scraped


def test_a_rotation_through_one_node_reaches_another_within_a_second(cluster):
    one, two, three = cluster["nodes"]
    deployment = deploy(cluster, one)
    within(2.0, lambda: forward(three.base, deployment) == 200)
    rotated = api(two, "POST", f"/deployments/{deployment['id']}/token")
    assert rotated.status_code == 200, rotated.text
    took = within(1.0, lambda: forward(three.base, deployment) == 401)
    print(f"node 3 refused the old token {took:.3f} s after the rotation")
    assert forward(three.base, deployment, rotated.json()["token"]) == 200


def test_a_rate_limit_holds_across_the_three_nodes(cluster):
    rate, burst = 5.0, 100
    deployment = deploy(cluster, cluster["nodes"][0], rate=rate, burst=burst)
    within(2.0, lambda: all(forward(n.base, deployment, "wrong") == 401 for n in cluster["nodes"]))
    statuses: list[int] = []
    sent: list[float] = []
    lock = threading.Lock()

    def client(node: Node) -> None:
        with httpx.Client() as http:
            for _ in range(70):
                with lock:
                    sent.append(time.monotonic())
                r = http.post(
                    f"{node.base}/deployment/{deployment['id']}/forward",
                    headers=bearer(deployment["token"]),
                    json={"rows": [deployment["row"]]},
                )
                with lock:
                    statuses.append(r.status_code)

    threads = [threading.Thread(target=client, args=(n,)) for n in cluster["nodes"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = max(sent) - min(sent)  # the bucket refilled over this time
    counted = Counter(statuses)
    assert set(counted) <= {200, 429}, counted
    allowed = burst + rate * elapsed
    # Each node alone would have let `allowed` through: three times as many.
    assert abs(counted[200] - allowed) <= 0.05 * allowed, (counted, allowed)


class Load:
    """Steady predictions through nginx from a few clients, every answer counted."""

    def __init__(self, base: str, deployment: dict[str, Any], clients: int = 4) -> None:
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._url = f"{base}/deployment/{deployment['id']}/forward"
        self._deployment = deployment
        self.clients = clients
        self._threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                try:
                    status = http.post(
                        self._url,
                        headers=bearer(self._deployment["token"]),
                        json={"rows": [self._deployment["row"]]},
                    ).status_code
                except httpx.TransportError:
                    status = 0
                with self._lock:
                    self.statuses[status] += 1

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def answered(node: Node, deployment: dict[str, Any]) -> int:
    """The requests the registry's usage counts as answered (requests less errors)."""
    counted = api(node, "GET", f"/deployments/{deployment['id']}").json()["usage"]
    return int(counted["requests"]) - sum(counted["errors"].values())


def test_sigterm_under_load_fails_no_request_and_usage_adds_up(cluster):
    one, _, three = cluster["nodes"]
    deployment = deploy(cluster, one)
    # Known to every node: it refuses a wrong token (an error, not an answer, in the usage).
    within(2.0, lambda: all(forward(n.base, deployment, "wrong") == 401 for n in cluster["nodes"]))
    with Load(cluster["nginx"], deployment) as load:
        time.sleep(1.0)
        three.process.send_signal(signal.SIGTERM)
        draining = httpx.get(f"{three.base}/readyz").status_code
        three.process.wait(timeout=30)
        time.sleep(1.0)
    assert draining == 503
    assert set(load.statuses) == {200}, load.statuses
    assert load.statuses[200] > 20
    # Every node's usage reaches the registry: the stopped one flushed on its way out.
    within(3.0, lambda: answered(one, deployment) == load.statuses[200])


def test_kill_9_fails_only_what_was_in_flight_and_a_restart_serves_again(cluster):
    one, two, _ = cluster["nodes"]
    deployment = deploy(cluster, one)
    within(2.0, lambda: forward(two.base, deployment) == 200)
    registry_before = api(one, "GET", "/deployments").json()
    with Load(cluster["nginx"], deployment) as load:
        time.sleep(1.0)
        two.process.kill()
        two.process.wait()
        time.sleep(1.0)
    failed = sum(n for status, n in load.statuses.items() if status != 200)
    print(f"kill -9 under load: {dict(load.statuses)}")
    assert failed <= load.clients, load.statuses  # at most one in flight per client
    assert load.statuses[200] > 20
    two.log.close()
    two.start()
    two.wait_ready()
    assert forward(two.base, deployment) == 200
    after = api(two, "GET", "/deployments").json()
    assert {d["id"] for d in after} >= {d["id"] for d in registry_before}
