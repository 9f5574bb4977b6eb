"""Prometheus metrics of the prediction path, served at `GET /metrics`.

Requests and rows by deployment and status, request latency and model-call batch size
histograms, and the batcher's queue depth. With several workers (`forwardpass serve
--workers N`), `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the
workers start; prometheus-client then keeps each worker's values in a file there and
`/metrics` answers the sum over all workers, whichever worker the scrape reaches.

The figures name deployment ids and their traffic, so `FORWARDPASS_METRICS_TOKEN` can close
`/metrics` behind a Bearer token; it is open by default (see the README for why).
"""

from __future__ import annotations

import bisect
import functools
import hmac
import ipaddress
import math
import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

from forwardpass.errors import InvalidTokenError
from forwardpass.registry import tokens
from forwardpass.settings import Settings

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

REQUESTS = Counter(
    "forwardpass_requests",
    "Prediction requests, by deployment and HTTP status.",
    ["deployment", "status"],
)
ROWS = Counter(
    "forwardpass_rows",
    "Rows sent in prediction requests, by deployment and HTTP status.",
    ["deployment", "status"],
)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LATENCY = Histogram(
    "forwardpass_request_seconds",
    "Prediction request duration, body to answer, in seconds.",
    ["deployment"],
    buckets=LATENCY_BUCKETS,
)
BATCH_ROWS = Histogram(
    "forwardpass_batch_rows",
    "Rows in each model call of the batcher, by model version.",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096),
)
# The autoscaling signal (deploy/kubernetes/): time in the queue grows before latency
# does, and it does not grow with a model's own run time as request latency does.
QUEUE_SECONDS = Histogram(
    "forwardpass_queue_seconds",
    "Seconds an answered request waited for the model before its batch ran, by deployment.",
    ["deployment"],
    buckets=LATENCY_BUCKETS,
)
PROVIDER = Gauge(
    "forwardpass_execution_provider",
    "1 for the ONNX Runtime execution provider this server's models run on first.",
    ["provider"],
    multiprocess_mode="max",
)
QUEUE_DEPTH = Gauge(
    "forwardpass_queue_depth",
    "Requests waiting for the model when its latest batch started, by model version.",
    ["model"],
    multiprocess_mode="livesum",
)

# Requests to a deployment id that does not exist all count under this one label, so that
# a client sending random ids cannot grow the metrics without bound.
UNKNOWN = "unknown"


@functools.cache
def _request_series(deployment: str, status: int) -> tuple[Counter, Counter]:
    status_label = str(status)
    return REQUESTS.labels(deployment, status_label), ROWS.labels(deployment, status_label)


def observe_requests(requests: Iterable[tuple[str, int, int, float]]) -> None:
    """Count prediction requests, given as (deployment, status, rows, seconds); deployment
    is UNKNOWN when no such deployment exists.

    prometheus-client takes a lock and walks the buckets in Python on every `inc` and
    `observe`; three calls per prediction were a tenth of a 1-row request's time on one
    core. So the forward route's ledger (server/ledger.py) hands requests over in batches,
    which are summed here first and added to each series once.
    """
    counts: dict[tuple[str, int], list[int]] = {}  # -> [requests, rows]
    latency: dict[str, list[float]] = {}  # -> one count per bucket, then the sum
    for deployment, status, rows, seconds in requests:
        pair = counts.get((deployment, status))
        if pair is None:
            pair = counts[deployment, status] = [0, 0]
        pair[0] += 1
        pair[1] += rows
        buckets = latency.get(deployment)
        if buckets is None:
            buckets = latency[deployment] = [0.0] * (len(_BOUNDS) + 1)
        # Histogram.observe's bucket: the first bound >= seconds.
        buckets[bisect.bisect_left(_BOUNDS, seconds)] += 1
        buckets[-1] += seconds
    for (deployment, status), (count, rows) in counts.items():
        request_count, row_count = _request_series(deployment, status)
        request_count.inc(count)
        if rows:
            row_count.inc(rows)
    for deployment, buckets in latency.items():
        _add_observations(LATENCY.labels(deployment), buckets)


def observe_queue(waits: Iterable[tuple[str, float]]) -> None:
    """Observe the queue times of answered requests, given as (deployment, seconds), in bulk
    as `observe_requests` does."""
    summed: dict[str, list[float]] = {}
    for deployment, seconds in waits:
        buckets = summed.get(deployment)
        if buckets is None:
            buckets = summed[deployment] = [0.0] * (len(_BOUNDS) + 1)
        buckets[bisect.bisect_left(_BOUNDS, seconds)] += 1
        buckets[-1] += seconds
    for deployment, buckets in summed.items():
        _add_observations(QUEUE_SECONDS.labels(deployment), buckets)


def _add_observations(child: Histogram, buckets: list[float]) -> None:
    """Add counts per bucket (and their sum, last) to a histogram's series at once."""
    # No public call adds many observations at once; these are the attributes that
    # Histogram.observe itself updates (tests/server/test_metrics.py checks that the
    # exposition is the same as observing each value).
    for bucket, observed in zip(child._buckets, buckets, strict=False):
        if observed:
            bucket.inc(observed)
    child._sum.inc(buckets[-1])


def show_provider(provider: str) -> None:
    PROVIDER.labels(provider).set(1)


_BOUNDS = (*LATENCY_BUCKETS, math.inf)  # as Histogram adds +Inf


def batch_observer(model: str) -> Callable[[int, int], None]:
    """The batcher's hook for one model version: (rows in the call, requests still queued)."""
    rows, depth = BATCH_ROWS.labels(model), QUEUE_DEPTH.labels(model)

    def observe(batch_rows: int, queued: int) -> None:
        rows.observe(batch_rows)
        depth.set(queued)

    return observe


def authorize(request: Request, token: str) -> None:
    """Raise 401 unless the scrape sends the metrics token; no token set means open."""
    if not token:
        return
    sent = tokens.from_header(request.headers.get("authorization"))
    if sent is None or not hmac.compare_digest(sent.encode(), token.encode()):
        raise InvalidTokenError(
            "/metrics needs 'Authorization: Bearer <metrics token>' (FORWARDPASS_METRICS_TOKEN)",
            headers={"WWW-Authenticate": 'Bearer realm="forwardpass-metrics"'},
        )


def exposed(settings: Settings) -> bool:
    """Whether /metrics is open to other machines: no token, and not only on loopback."""
    if settings.metrics_token:
        return False
    try:
        return not ipaddress.ip_address(settings.host).is_loopback
    except ValueError:
        return settings.host != "localhost"


async def endpoint(_request: Request) -> Response:
    """`GET /metrics` in Prometheus' text format, summed over workers in multiprocess mode."""
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        data = generate_latest(registry)
    else:
        data = generate_latest()
    return Response(data, media_type=CONTENT_TYPE_LATEST)
