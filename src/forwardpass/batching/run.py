"""One batch of requests through a model: decoded per interface, run once, encoded per
interface, each request's error confined to that request.

The requests of a batch may come from several deployments of one model version; each
deployment has its own `Codec` (its API names, its image options). The rows of all
requests that share an interface are decoded in one `Codec.decode` call, the feeds of
every interface are concatenated for one model call (same model, same tensor names), and
each interface's outputs are encoded in one `Codec.encode` call, then sliced back per
request. For a small request most of decoding and encoding is a fixed cost per call, which
a batch pays once.

A bad row fails only its request, with the error it would get alone: when a merged decode
fails, each request of it is decoded alone (a row index in the message is then the one
within its own request); when the model call or an encode fails, each request is run or
encoded alone. A request whose client has gone away by the time its batch runs is not
run at all: it fails with `Abandoned`.

A request may come with its feeds (rows of images decoded off the event loop, a tensor
request's image `Columns`), or with how to make them (a tensor request's `Columns.decode`,
called here, in the model thread, as rows are decoded: while it runs, requests gather in the
queue for the next batch, where decoding them on the event loop first sent them one at a
time). Such feeds join those of the rows decoded here, so a tensor request and a rows
request of one deployment share a model call. A job marked `raw` is answered with
its slice of the model's outputs instead of rows, for a way in that shapes them itself.

Each request may bring its deployment's run timeout. A model call gets the longest of its
requests' timeouts, so that no request is stopped before its own limit (one with a shorter
limit may then wait longer than it); a call whose requests bring none gets the model's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from forwardpass.batching.future import EagerFuture
from forwardpass.batching.timing import Timing
from forwardpass.errors import ModelTimeout

Feeds = dict[str, np.ndarray]
Outputs = dict[str, np.ndarray]
Rows = list[dict[str, Any]]
#: What a job is answered with: rows, or for a `raw` job its own slice of the outputs.
Answer = Rows | Outputs
#: A model call: its feeds, and the seconds it may run (None: the model's own timeout).
ModelCall = Callable[[Feeds, float | None], Outputs]


class Abandoned(Exception):
    """The client of a request went away while it waited for its batch: it was not run."""


@dataclass(slots=True)
class Columns:
    """A request its way in decodes itself: `count` examples, and their feeds (one array
    per model input, the examples along the first dimension) or the call that makes them,
    which the batch makes in the model thread."""

    count: int
    feeds: Feeds | None = None
    decode: Callable[[], Feeds] | None = None


class Codec(Protocol):
    """What a batch needs of a `codecs.rows.RowCodec`."""

    def decode(self, rows: Any) -> Feeds: ...

    def encode(self, outputs: Mapping[str, np.ndarray], count: int) -> Rows: ...


@dataclass(eq=False, slots=True)
class Job:
    """One request waiting for its batch; `run_batch` sets its `result`."""

    interface: Codec
    rows: list[Any]
    count: int
    future: EagerFuture[Answer]
    timing: Timing | None
    feeds: Feeds | None  # given when the request decoded its rows itself (images, tensors)
    gone: Callable[[], bool] | None = None  # True once nobody waits for the answer
    timeout: float | None = None  # seconds its model call may run; None: the model's own
    raw: bool = False  # answered with its slice of the outputs, not encoded as rows
    prepare: Callable[[], Feeds] | None = None  # makes `feeds`, in the model thread
    queued: float = field(default_factory=time.perf_counter)
    result: Answer | BaseException | None = None


@dataclass(eq=False, slots=True)
class _Part:
    """Requests of one interface whose rows are one run of the batch's feeds."""

    interface: Codec
    jobs: list[Job]
    feeds: Feeds
    rows: int


def run_batch(batch: list[Job], model: ModelCall) -> None:
    """Each job's answer rows, or the error of its own request, into `job.result`."""
    started = time.perf_counter()
    groups: dict[int, list[Job]] = {}
    for job in batch:
        if job.timing is not None:
            job.timing.queue += started - job.queued
        # Under overload clients give up while they queue; the model's time goes to those
        # still waiting. Read without a lock: a client that leaves now is run all the same.
        if job.gone is not None and job.gone():
            job.result = Abandoned()
            continue
        if job.prepare is not None and not _prepare(job):
            continue
        groups.setdefault(id(job.interface), []).append(job)
    parts = [part for jobs in groups.values() for part in _decode(jobs)]
    if not parts:
        return
    jobs = [job for part in parts for job in part.jobs]
    rows = sum(part.rows for part in parts)
    try:
        feeds = parts[0].feeds if len(parts) == 1 else _concatenate([p.feeds for p in parts])
        outputs = _call(model, jobs, feeds, rows)
    except Exception as exc:
        # A timed-out batch is not run again request by request: each would time out too.
        if len(jobs) == 1 or isinstance(exc, ModelTimeout):
            for job in jobs:
                job.result = exc
            return
        for part in parts:
            for single in _split(part):
                _alone(model, single)
        return
    offset = 0
    for part in parts:
        _encode(part, outputs if len(parts) == 1 else _slice(outputs, offset, part.rows))
        offset += part.rows


def _alone(model: ModelCall, part: _Part) -> None:
    """One request's model call and encoding, after its batch's call failed."""
    try:
        outputs = _call(model, part.jobs, part.feeds, part.rows)
    except Exception as exc:
        part.jobs[0].result = exc
        return
    _encode(part, outputs)


def _call(model: ModelCall, jobs: list[Job], feeds: Feeds, rows: int) -> Outputs:
    """One model call, its duration written to each job's timing."""
    started = time.perf_counter()
    try:
        return model(feeds, _longest(jobs))
    finally:
        elapsed = time.perf_counter() - started
        for job in jobs:
            if job.timing is not None:
                job.timing.infer += elapsed
                job.timing.batch_rows = rows


def _longest(jobs: list[Job]) -> float | None:
    """The run timeout of a call for `jobs`: the longest they bring, or None if none does."""
    given = [job.timeout for job in jobs if job.timeout is not None]
    return max(given) if given else None


def _prepare(job: Job) -> bool:
    """Make the feeds of a job that brought the call for them; False if it failed (the
    error is then the job's own result)."""
    assert job.prepare is not None
    started = time.perf_counter()
    try:
        job.feeds = job.prepare()
        return True
    except Exception as exc:
        job.result = exc
        return False
    finally:
        _add_decode([job], time.perf_counter() - started)


def _decode(jobs: list[Job]) -> list[_Part]:
    """The feeds of one interface's jobs: one decode call for all the rows to decode, joined
    by the feeds of the jobs that came decoded; if that fails, one decode per job, so that a
    bad row fails only its own request, with its own row index."""
    interface = jobs[0].interface
    if len(jobs) > 1:
        started = time.perf_counter()
        # Rows first, then the decoded: the part's jobs are in the order of its feeds.
        to_decode = [job for job in jobs if job.feeds is None]
        decoded = [job for job in jobs if job.feeds is not None]
        ordered = to_decode + decoded if to_decode and decoded else jobs
        try:
            pieces = [job.feeds for job in decoded if job.feeds is not None]
            if to_decode:
                pieces.insert(0, interface.decode([row for job in to_decode for row in job.rows]))
            feeds: Feeds | None = pieces[0] if len(pieces) == 1 else _concatenate(pieces)
        except Exception:
            feeds = None
        _add_decode(jobs, time.perf_counter() - started)
        if feeds is not None:
            return [_Part(interface, ordered, feeds, sum(job.count for job in jobs))]
    parts = []
    for job in jobs:
        started = time.perf_counter()
        try:
            own = job.feeds if job.feeds is not None else interface.decode(job.rows)
            parts.append(_Part(interface, [job], own, job.count))
        except Exception as exc:
            job.result = exc
        _add_decode([job], time.perf_counter() - started)
    return parts


def _encode(part: _Part, outputs: Outputs) -> None:
    """Each job's answer rows from its part's outputs: one encode call, or if that fails,
    one per job."""
    started = time.perf_counter()
    jobs = part.jobs
    if any(job.raw for job in jobs):
        _encode_each(part, outputs)
    else:
        _encode_together(part, outputs)
    elapsed = time.perf_counter() - started
    for job in jobs:
        if job.timing is not None:
            job.timing.encode += elapsed


def _encode_each(part: _Part, outputs: Outputs) -> None:
    """Each job's own answer: its slice of the outputs (raw), or its rows."""
    jobs, interface = part.jobs, part.interface
    offset = 0
    for job in jobs:
        own = outputs if len(jobs) == 1 else _slice(outputs, offset, job.count)
        if job.raw:
            job.result = own
        else:
            try:
                job.result = interface.encode(own, job.count)
            except Exception as exc:
                job.result = exc
        offset += job.count


def _encode_together(part: _Part, outputs: Outputs) -> None:
    jobs, interface = part.jobs, part.interface
    try:
        answer = interface.encode(outputs, part.rows)
    except Exception as exc:
        if len(jobs) == 1:
            jobs[0].result = exc
        else:
            offset = 0
            for job in jobs:
                try:
                    job.result = interface.encode(_slice(outputs, offset, job.count), job.count)
                except Exception as own:
                    job.result = own
                offset += job.count
    else:
        if len(jobs) == 1:
            jobs[0].result = answer
        else:
            offset = 0
            for job in jobs:
                job.result = answer[offset : offset + job.count]
                offset += job.count


def _add_decode(jobs: list[Job], seconds: float) -> None:
    for job in jobs:
        if job.timing is not None:
            job.timing.decode += seconds


def _split(part: _Part) -> list[_Part]:
    """One part per job, each with its own rows of the part's feeds."""
    if len(part.jobs) == 1:
        return [part]
    singles, offset = [], 0
    for job in part.jobs:
        # Feeds a request brought are its own as given, before the merge cast them.
        own = job.feeds if job.feeds is not None else _slice(part.feeds, offset, job.count)
        singles.append(_Part(part.interface, [job], own, job.count))
        offset += job.count
    return singles


def _slice(arrays: dict[str, np.ndarray], offset: int, rows: int) -> dict[str, np.ndarray]:
    return {name: array[offset : offset + rows] for name, array in arrays.items()}


def _concatenate(feeds: list[Feeds]) -> Feeds:
    return {name: _stack([f[name] for f in feeds]) for name in feeds[0]}


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays one after another. Token tensors [rows, sequence] of different requests
    may differ in length: the shorter are padded with zeros on the right, which their
    attention mask (0 there too) keeps the model from reading."""
    longest = max(a.shape[1] for a in arrays) if arrays[0].ndim == 2 else 0
    if all(a.ndim != 2 or a.shape[1] == longest for a in arrays):
        return np.concatenate(arrays)
    return np.concatenate([np.pad(a, ((0, 0), (0, longest - a.shape[1]))) for a in arrays])
