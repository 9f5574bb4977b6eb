"""The serving cache: deployments share their model version's batcher, and a model swap
fails no request and leaves no thread behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forwardpass.batching.timing import Timing
from forwardpass.importers import onnx as importer
from forwardpass.registry import Registry
from forwardpass.serving.served import ServedDeployments
from forwardpass.settings import Settings
from tests import models
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


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry with scaled:1 (answers x) and scaled:2 (answers 2x)."""
    opened = Registry.open(Settings.load(data_dir=tmp_path))
    for factor in (1.0, 2.0):
        path = models.scaled(tmp_path / f"scaled-{factor}.onnx", factor)
        opened.add_model(importer.import_bytes(path.read_bytes()), "scaled")
    yield opened
    opened.close()


def model_threads(registry: Registry) -> int:
    """Threads of this registry's models (named after their sha256)."""
    names = {f"forwardpass-model-{m.sha256[:12]}" for m in registry.models()}
    return sum(t.name in names for t in threading.enumerate())


def test_deployments_of_one_version_share_its_batcher_under_their_own_names(
    registry: Registry, tmp_path: Path
) -> None:
    plain, _ = registry.create_deployment("scaled:1")
    renamed, _ = registry.create_deployment("scaled:1", "renamed")
    registry.set_api_names(renamed.id, {"inputs": {"x": "pair"}, "outputs": {"y": "scaled"}})
    cache = ServedDeployments(registry, Settings.load(data_dir=tmp_path))
    cache.refresh()
    a, b = cache.get(plain.id), cache.get(renamed.id)
    assert a is not None and b is not None
    assert a.batcher is b.batcher and a.interface is not b.interface

    def pair(i: int) -> dict[str, Any]:
        return {"shape": [2], "data": [float(i), float(i + 1)]}

    timings = [Timing() for _ in range(40)]

    async def scenario() -> list[list[dict[str, Any]]]:
        # submitted in one go: while the first runs, the rest queue up and share batches
        return await asyncio.gather(
            *(
                a.predict([{"x": pair(i)}], t) if i % 2 else b.predict([{"pair": pair(i)}] * 2, t)
                for i, t in enumerate(timings)
            )
        )

    try:
        answers = asyncio.run(scenario())
    finally:
        cache.close()
    wait_for(lambda: model_threads(registry) == 0)
    for i, answer in enumerate(answers):
        assert answer == ([{"y": pair(i)}] if i % 2 else [{"scaled": pair(i)}] * 2)
    # 3 rows or more: requests of both deployments (they alternate) in one model call
    assert max(t.batch_rows for t in timings) >= 3


def test_version_swaps_leave_no_model_thread_behind(registry: Registry, tmp_path: Path) -> None:
    deployment, _ = registry.create_deployment("scaled:1")
    cache = ServedDeployments(registry, Settings.load(data_dir=tmp_path))
    row = {"x": {"shape": [2], "data": [1.0, 2.0]}}
    wait_for(lambda: model_threads(registry) == 0)  # those of earlier tests have ended
    threads = threading.active_count()
    try:
        for swap in range(12):
            version = 1 + swap % 2
            registry.switch_model(deployment.id, f"scaled:{version}")
            cache.refresh()
            live = cache.get(deployment.id)
            assert live is not None
            answer = asyncio.run(live.predict([row]))
            assert answer == [{"y": {"shape": [2], "data": [version * 1.0, version * 2.0]}}]
            # the dropped version's thread ends: only the live version's is left
            wait_for(lambda: model_threads(registry) == 1)
            assert threading.active_count() <= threads + 1
        cache.close()
        wait_for(lambda: model_threads(registry) == 0)
    finally:
        cache.close()
