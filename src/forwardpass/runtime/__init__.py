"""ONNX Runtime sessions: one per model version, loaded once, run outside the event loop."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from forwardpass.errors import BadData, InternalError, ModelTimeout, SignatureError
from forwardpass.model import graph
from forwardpass.model import signature as sig
from forwardpass.runtime import cpus
from forwardpass.runtime.deadlines import DEADLINES

log = logging.getLogger("forwardpass.runtime")

#: Rows of one model call when a batch of token rows is run by length (Model._by_length).
BUCKET_ROWS = 16

# The pybind exceptions ORT raises; InvalidArgument means the caller's data did not fit.
_ORT_ERRORS = ort.capi.onnxruntime_pybind11_state
_CALLER_FAULTS: tuple[type[BaseException], ...] = (
    _ORT_ERRORS.InvalidArgument,
    _ORT_ERRORS.InvalidGraph,
)


class Model:
    """A loaded model version: its signature, its graph's tensors and an ORT session."""

    def __init__(
        self,
        path: Path,
        *,
        threads: int = 0,
        timeout: float = 30.0,
        providers: list[str] | None = None,
    ) -> None:
        """`timeout` is the longest one call of `run` may take, in seconds; `providers` the
        execution providers in order of preference (`runtime.providers.chosen`; None: CPU)."""
        proto = onnx.load(str(path), load_external_data=False)
        found = sig.read(proto)
        if found is None:
            raise SignatureError(f"{path.name} carries no forwardpass signature")
        # Loaded from bytes, ORT resolves external data against the working directory, so
        # such a model could read the server's own files. The registry refuses them; this
        # guards what an older version stored.
        graph.require_self_contained(proto)
        self.signature: sig.Signature = found
        self.inputs = graph.inputs(proto)
        self.outputs = graph.outputs(proto)
        #: The tokenizers of its tokenized text inputs, for their codecs (codecs.tokens).
        self.tokenizers = sig.tokenizers(proto, found)
        options = ort.SessionOptions()
        # 0 lets ORT pick one thread per core; serving processes set it to share cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            proto.SerializeToString(), options, providers=providers or ["CPUExecutionProvider"]
        )
        #: What runs it: ORT drops a listed provider that cannot take this model.
        self.providers: list[str] = self.session.get_providers()
        self.output_names = sorted({f.tensor for f in self.signature.outputs})
        self.timeout = timeout
        self._mask, self._tokens = _token_tensors(found)

    def run(
        self, feeds: dict[str, np.ndarray], timeout: float | None = None
    ) -> dict[str, np.ndarray]:
        """Run the graph within `timeout` seconds (None: the model's own `timeout`); errors
        come out as forwardpass errors."""
        seconds = self.timeout if timeout is None else timeout
        with DEADLINES.run(seconds) as options:
            try:
                if self._mask is not None and len(feeds[self._mask]) > BUCKET_ROWS:
                    return self._by_length(feeds, options)
                results = self.session.run(self.output_names, feeds, options)
            except _CALLER_FAULTS as exc:
                raise BadData(f"the model refused the input: {_short(exc)}") from None
            except (_ORT_ERRORS.Fail, _ORT_ERRORS.RuntimeException) as exc:
                if options.terminate:
                    raise ModelTimeout(
                        f"the model ran longer than the run timeout ({seconds:g} s) and was stopped"
                    ) from None
                # ORT's text names its kernels and files: for the operator, not the client.
                log.error("the model failed: %s", _short(exc))
                raise InternalError(
                    "the model failed on this input; the error is in the log"
                ) from None
        return dict(zip(self.output_names, results, strict=True))

    def _by_length(
        self, feeds: dict[str, np.ndarray], options: ort.RunOptions
    ) -> dict[str, np.ndarray]:
        """A batch of token rows run as buckets of rows of like length, each padded only to
        its own longest row, the answers put back in the batch's order. One call padded to
        the longest row of 64 sentences spends most of its time on padding (bench/RESULTS.md)."""
        assert self._mask is not None
        lengths = feeds[self._mask].sum(axis=1)
        order = np.argsort(lengths, kind="stable")
        parts: list[list[np.ndarray]] = []
        for start in range(0, len(order), BUCKET_ROWS):
            rows = order[start : start + BUCKET_ROWS]
            longest = max(1, int(lengths[rows].max()))
            bucket = {
                name: array[rows, :longest] if name in self._tokens else array[rows]
                for name, array in feeds.items()
            }
            parts.append(self.session.run(self.output_names, bucket, options))
        answers = {}
        for index, name in enumerate(self.output_names):
            merged = np.concatenate([part[index] for part in parts])
            answers[name] = np.empty_like(merged)
            answers[name][order] = merged
        return answers


def _token_tensors(signature: sig.Signature) -> tuple[str | None, frozenset[str]]:
    """The attention mask of a model's tokenized input (None if it has none), and every
    tensor a tokenizer feeds."""
    tokenized = [f.tokenizer for f in signature.inputs if f.tokenizer is not None]
    if len(tokenized) != 1:  # two texts would need one order for both: not bucketed
        return None, frozenset()
    settings = tokenized[0]
    return settings.tensors.get("attention_mask"), frozenset(settings.tensors.values())


def _short(exc: BaseException) -> str:
    text = str(exc)
    # ORT prefixes its messages with the C++ source location, of no use to a client.
    return text.split("] ", 1)[-1][:300]


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a cgroup),
    fewer when its cgroup's CPU quota grants less (a container's CPU limit), at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    granted = cpus.quota()
    return cores if granted is None else max(1, min(cores, int(granted)))


def default_threads(workers: int) -> int:
    """ONNX Runtime intra-op threads per model when not set: the usable cores shared out
    among the worker processes, at least one. More threads than cores makes ORT's spinning
    thread pool fight the event loop for the same core."""
    return max(1, usable_cores() // max(1, workers))
