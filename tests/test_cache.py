"""The serving cache swaps a deployment's model without failing a request."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from tests.support import bearer, wait_for

ROW = {"x": {"shape": [2], "data": [1.0, 2.0]}}
OLD, NEW = [1.0, 2.0], [2.0, 4.0]


@pytest.mark.slow
def test_version_switch_under_load_fails_no_request(managed: dict[str, Any]) -> None:
    admin = bearer(managed["admin"])
    base = managed["server"].base
    d = httpx.post(f"{base}/api/v1/deployments", json={"model": "scaled:1"}, headers=admin).json()
    wait_for(
        lambda: httpx.post(d["url"], json={"rows": [ROW]}, headers=bearer(d["token"])).is_success
    )

    stop = threading.Event()
    seen: list[list[list[float]]] = [[] for _ in range(4)]
    failures: list[str] = []

    def client(answers: list[list[float]]) -> None:
        with httpx.Client(headers=bearer(d["token"]), timeout=30) as http:
            while not stop.is_set():
                r = http.post(d["url"], json={"rows": [ROW]})
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text}")
                    continue
                answers.append(r.json()["rows"][0]["y"]["data"])

    threads = [threading.Thread(target=client, args=(s,)) for s in seen]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: all(len(s) >= 20 for s in seen), timeout=30)
        r = httpx.patch(
            f"{base}/api/v1/deployments/{d['id']}", json={"model": "scaled:2"}, headers=admin
        )
        assert r.status_code == 200, r.text
        wait_for(lambda: all(s[-1] == NEW for s in seen), timeout=30)
        counts = [len(s) for s in seen]
        wait_for(lambda: all(len(s) >= c + 20 for s, c in zip(seen, counts, strict=True)), 30)
    finally:
        stop.set()
        for t in threads:
            t.join()

    assert failures == []
    for answers in seen:
        assert answers[0] == OLD and answers[-1] == NEW
        assert set(map(tuple, answers)) == {tuple(OLD), tuple(NEW)}
        # each client, sending one request after another, sees old answers, then new ones
        first_new = answers.index(NEW)
        assert all(a == NEW for a in answers[first_new:])
    assert sum(map(len, seen)) > 100
