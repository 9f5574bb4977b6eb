"""Server-Timing on every prediction and Prometheus /metrics, through the session server."""

from __future__ import annotations

import re
from typing import Any

import httpx
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

from forwardpass.server import metrics as server_metrics
from tests.support import Server, bearer, cli_env

ROW = {"Type": "animal", "Sound": "woof", "Size": 0.8}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus' text format (0 when it is not there yet)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if found == labels:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def metrics(served: dict[str, Any]) -> str:
    answer = httpx.get(f"{served['server'].base}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def test_every_prediction_says_where_its_time_went(served: dict[str, Any]) -> None:
    d = served["demo"]
    answer = httpx.post(d["url"], json={"rows": [ROW, ROW]}, headers=bearer(d["token"]))
    assert answer.status_code == 200, answer.text
    phases = dict(
        re.fullmatch(r"(\w+);dur=([\d.]+)", part.strip()).groups()  # type: ignore[union-attr]
        for part in answer.headers["server-timing"].split(",")
    )
    assert list(phases) == ["decode", "queue", "infer", "encode"]
    assert all(float(v) >= 0 for v in phases.values())
    assert float(phases["infer"]) > 0


def test_metrics_count_requests_and_rows_by_deployment_and_status(
    served: dict[str, Any],
) -> None:
    d = served["demo"]
    before = metrics(served)
    for _ in range(3):
        ok = httpx.post(d["url"], json={"rows": [ROW] * 4}, headers=bearer(d["token"]))
        assert ok.status_code == 200
    bad = httpx.post(d["url"], json={"rows": [{**ROW, "Size": "big"}]}, headers=bearer(d["token"]))
    assert bad.status_code == 400
    stranger = httpx.post(
        served["server"].url("00000000-0000-0000-0000-000000000000"),
        json={"rows": [ROW]},
        headers=bearer(d["token"]),
    )
    assert stranger.status_code == 404
    after = metrics(served)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    dep = d["id"]
    assert grew("forwardpass_requests_total", deployment=dep, status="200") == 3
    assert grew("forwardpass_rows_total", deployment=dep, status="200") == 12
    assert grew("forwardpass_requests_total", deployment=dep, status="400") == 1
    # unknown ids share one label: random ids cannot grow the metrics without bound
    assert grew("forwardpass_requests_total", deployment="unknown", status="404") == 1
    assert "00000000-0000" not in after
    assert grew("forwardpass_request_seconds_count", deployment=dep) == 4
    assert re.search(
        r'^forwardpass_batch_rows_count\{model="[0-9a-f]{12}"\} [1-9]', after, re.MULTILINE
    )
    assert re.search(r'^forwardpass_queue_depth\{model="[0-9a-f]{12}"\} ', after, re.MULTILINE)


def test_readyz_once_the_deployments_are_loaded(served: dict[str, Any]) -> None:
    answer = httpx.get(f"{served['server'].base}/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready"}


def test_requests_counted_in_bulk_read_as_observed_one_by_one():
    """Requests are added to the series in bulk (server/ledger.py); the exposition must be
    what prometheus-client gives for the same requests one by one."""
    reference = CollectorRegistry()
    latency = Histogram(
        "ref_seconds",
        "",
        ["deployment"],
        buckets=server_metrics.LATENCY_BUCKETS,
        registry=reference,
    )
    requests = Counter("ref_requests", "", ["deployment", "status"], registry=reference)
    deployment = "tally-test"
    # each bound, just above it, zero and past the last bound
    bounds = server_metrics.LATENCY_BUCKETS
    seconds = [0.0, 7.0, *bounds, *(bound * 1.0001 for bound in bounds)]
    given = []
    for n, value in enumerate(seconds):
        status = 200 if n % 3 else 400
        given.append((deployment, status, 2, value))
        latency.labels(deployment).observe(value)
        requests.labels(deployment, str(status)).inc()
    server_metrics.observe_requests(given[:5])  # in two batches, as the ledger hands them
    server_metrics.observe_requests(given[5:])

    def samples(family_name: str, registry: CollectorRegistry) -> dict[str, float]:
        return {
            f"{s.name.rsplit('_', 1)[-1]} {sorted(s.labels.items())}": s.value
            for family in registry.collect()
            if family.name == family_name
            for s in family.samples
            if s.labels.get("deployment") == deployment and not s.name.endswith("_created")
        }

    ours = samples("forwardpass_request_seconds", REGISTRY)
    assert len(ours) == len(bounds) + 3  # the buckets, +Inf, count and sum
    assert ours == samples("ref_seconds", reference)
    assert samples("forwardpass_requests", REGISTRY) == samples("ref_requests", reference)
    rows = samples("forwardpass_rows", REGISTRY)
    assert rows == {
        f"total {[('deployment', deployment), ('status', '200')]}": 2
        * sum(1 for n in range(len(seconds)) if n % 3),
        f"total {[('deployment', deployment), ('status', '400')]}": 2
        * sum(1 for n in range(len(seconds)) if not n % 3),
    }


def test_a_metrics_token_closes_metrics(tmp_path) -> None:
    """With FORWARDPASS_METRICS_TOKEN, a scrape needs it; without (the default), it is open
    (the session server's tests above read /metrics with no token)."""
    admin = "admin-token-0123456789"  # the admin token does not open it either
    env = cli_env(
        tmp_path, FORWARDPASS_METRICS_TOKEN="scrape-me-0123456789", FORWARDPASS_ADMIN_TOKEN=admin
    )
    server = Server(tmp_path, "--host", "0.0.0.0", env=env)
    try:
        url = f"{server.base}/metrics"
        for headers in ({}, bearer("wrong"), bearer(admin)):
            r = httpx.get(url, headers=headers)
            assert r.status_code == 401 and r.json()["errorCode"] == "InvalidTokenError"
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "forwardpass_requests" not in r.text
        r = httpx.get(url, headers=bearer("scrape-me-0123456789"))
        assert r.status_code == 200 and "forwardpass_queue_depth" in r.text
    finally:
        server.stop()
    assert "/metrics answers anyone" not in server.logs()  # a token set: no warning


def test_open_metrics_on_a_public_address_is_warned_about(tmp_path) -> None:
    server = Server(tmp_path, "--host", "0.0.0.0")
    server.stop()
    assert "GET /metrics answers anyone who reaches 0.0.0.0" in server.logs()
