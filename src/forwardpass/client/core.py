"""What the sync and async clients share: rows to request bodies, answers to rows, retries.

No I/O happens here, so `Deployment` and `AsyncDeployment` differ only in how they wait.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import orjson

from forwardpass.client.errors import UnexpectedResponse, from_response
from forwardpass.client.spec import FeatureSpec, Spec, parse
from forwardpass.client.values import from_json, to_json
from forwardpass.errors import FeatureNotFound, ForwardpassError, JsonPropertyTypeMismatch, at

#: Statuses worth a retry: the server asked to slow down, or was briefly unable to answer.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Options:
    """How a client talks to a deployment.

    `batch_size` rows go in one request (128, as sidekick sends); up to `max_workers` requests
    run at once, and answers still come back in input order. A request that gets 429, 503
    or a connection error is retried up to `retries` times, waiting what `Retry-After`
    says, or else `backoff` seconds doubled at every attempt (at most `max_backoff`).
    `validate` checks rows against the deployment's spec before sending them.
    """

    batch_size: int = 128
    max_workers: int = 4
    retries: int = 5
    backoff: float = 0.25
    max_backoff: float = 30.0
    timeout: float = 60.0
    validate: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_workers < 1 or self.retries < 0:
            raise ValueError("batch_size and max_workers must be at least 1, retries at least 0")


class Core:
    def __init__(self, url: str, token: str, options: Options) -> None:
        self.url = url
        self.spec_url = urljoin(url, "openapi.json")
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.options = options
        self._spec: Spec | None = None

    # The spec ---------------------------------------------------------------------------

    def load_spec(self, status: int, content: bytes) -> None:
        if status != 200:
            raise from_response(status, content)
        try:
            document = orjson.loads(content)
        except orjson.JSONDecodeError:
            raise UnexpectedResponse(
                "UnexpectedSpec", status, "the deployment's OpenAPI document is not JSON"
            ) from None
        spec = parse(document)
        self._inputs = {f.name: f for f in spec.inputs}
        self._codecs = [(f.name, f.codec()) for f in spec.inputs]
        self._tensor_outputs = {
            f.name: f.dtype == "numeric" and f.shape != (1,) for f in spec.outputs
        }
        self._spec = spec

    @property
    def spec(self) -> Spec:
        if self._spec is None:
            raise RuntimeError("the deployment's spec is not loaded yet")
        return self._spec

    # Rows -------------------------------------------------------------------------------

    def batches(self, items: Iterable[Any]) -> Iterator[list[dict[str, Any]]]:
        """Requests' rows, `batch_size` at a time, checked against the spec."""
        size, batch, offset = self.options.batch_size, [], 0
        for item in items:
            batch.append(item)
            if len(batch) == size:
                yield self.prepare(batch, offset)
                offset += size
                batch = []
        if batch:
            yield self.prepare(batch, offset)

    def prepare(self, rows: list[Any], offset: int) -> list[dict[str, Any]]:
        """JSON rows from Python rows; errors name the row by its index in the whole input."""
        self.spec  # noqa: B018 -- raises while the spec is not loaded
        inputs = self._inputs
        prepared = []
        for index, row in enumerate(rows, start=offset):
            if not isinstance(row, Mapping):
                raise JsonPropertyTypeMismatch(
                    at(index, None, f"a row must be a mapping, got {type(row).__name__}")
                )
            for key in row:
                if key not in inputs:
                    raise FeatureNotFound(
                        at(index, str(key), f"not an input; the inputs are {self._listing()}")
                    )
            values = {}
            for name, feature in inputs.items():
                if name not in row:
                    raise FeatureNotFound(
                        at(index, name, f"missing; the inputs are {self._listing()}")
                    )
                values[name] = to_json(row[name], feature.dtype, feature.shape, index, name)
            prepared.append(values)
        if self.options.validate:
            self._check(prepared, offset)
        return prepared

    def _check(self, rows: list[dict[str, Any]], offset: int) -> None:
        for name, codec in self._codecs:
            if codec is None:
                continue
            try:
                codec.decode([row[name] for row in rows])
            except ForwardpassError as exc:
                message = re.sub(r"^row (\d+)", lambda m: f"row {int(m[1]) + offset}", exc.message)
                raise type(exc)(message) from None

    def _listing(self) -> str:
        return ", ".join(repr(name) for name in self._inputs)

    def body(self, rows: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"rows": rows})

    def answer(self, status: int, content: bytes, count: int) -> list[dict[str, Any]]:
        """The rows of a prediction, or the exception of its errorCode."""
        if status != 200:
            raise from_response(status, content)
        try:
            rows = orjson.loads(content)["rows"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise UnexpectedResponse(
                "UnexpectedResponse", status, f"not a prediction: {content[:200]!r}"
            ) from None
        if len(rows) != count:
            raise UnexpectedResponse(
                "UnexpectedResponse", status, f"sent {count} rows, got {len(rows)} answers"
            )
        tensors = self._tensor_outputs
        return [
            {k: from_json(v, "", tensors.get(k, False)) for k, v in row.items()} for row in rows
        ]

    # Retries ----------------------------------------------------------------------------

    def delay(self, attempt: int, retry_after: str | None) -> float:
        """Seconds to wait before retry number `attempt` + 1."""
        waited = _retry_after(retry_after)
        if waited is not None:
            return waited
        base = float(min(self.options.max_backoff, self.options.backoff * 2**attempt))
        return base * (0.5 + random.random() / 2)  # jitter spreads clients that failed together


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Described:
    """What the sync and the async client both tell of their deployment, read off its spec."""

    _core: Core

    @property
    def url(self) -> str:
        return self._core.url

    @property
    def feature_specs_in(self) -> list[FeatureSpec]:
        return self._core.spec.inputs

    @property
    def feature_specs_out(self) -> list[FeatureSpec]:
        return self._core.spec.outputs

    @property
    def tensor_json(self) -> bool:
        return self._core.spec.tensor_json
