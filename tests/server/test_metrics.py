"""Server-Timing on every prediction and Prometheus /metrics, through the session server."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.support import bearer

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
