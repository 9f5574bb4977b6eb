"""What the gradient-boosting importers share: onnxmltools' conversion, the signature of a
converted tree ensemble, its check against the original, and the options of an import.

A booster's converted graph has one float input `[N, features]` (each named feature a
column of it) and either a score tensor (regression) or a probability matrix (a
classifier, which becomes a categorical output of label to probability).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx

from forwardpass.errors import BadData, SignatureError
from forwardpass.importers import agreement, extras
from forwardpass.importers.onnx import prepare
from forwardpass.model import graph
from forwardpass.model import signature as sig


@dataclass(frozen=True)
class Options:
    """What the operator may say about a model its file does not (all optional).

    `labels` names the classes of a classifier, in the order of its scores; `target` names
    the output feature; `signature` overrides the whole signature; `trust_pickle` lets a
    pickle be loaded (on the command line only).
    """

    labels: tuple[str, ...] | None = None
    target: str = "prediction"
    signature: sig.Signature | None = None
    trust_pickle: bool = False


def convert(
    converter: str, extra: str, what: str, objective: str, width: int, booster: Any, **more: Any
) -> onnx.ModelProto:
    """`booster` through onnxmltools' `converter` (convert_xgboost, convert_lightgbm), one
    float input `[N, width]`; its failure is BadData naming the model's kind and objective.
    """
    converters = extras.need("onnxmltools.convert", extra, what)
    types = extras.need("onnxmltools.convert.common.data_types", extra, what)
    try:
        model: onnx.ModelProto = getattr(converters, converter)(
            booster, initial_types=[("input", types.FloatTensorType([None, width]))], **more
        )
    except Exception as exc:  # onnxmltools raises RuntimeError, KeyError, AttributeError...
        raise BadData(f"onnxmltools cannot convert {what} (objective {objective}): {exc}") from None
    return model


def two_scores(positive: np.ndarray) -> np.ndarray:
    """A binary classifier's answer (the second class's probability) as both classes'."""
    return np.stack([1 - positive, positive], axis=1)


def finish(
    model: onnx.ModelProto,
    names: Sequence[str],
    *,
    classes: Sequence[str] | None,
    predict: Callable[[np.ndarray], np.ndarray],
    options: Options,
    what: str,
    example: np.ndarray | None = None,
) -> onnx.ModelProto:
    """The converted booster with its signature, checked against `predict` (the original's
    answers, probabilities for a classifier) on rows that take every branch."""
    labels = graph.strip_zipmap(model)
    (source,) = graph.inputs(model)
    nan = source in graph.accepts_nan(model)
    ins = [sig.Feature(str(n), "numeric", (1,), source, missing=nan) for n in names]
    outs = graph.outputs(model)
    if classes is not None:
        scores = next((t for t in outs.values() if t.kind == "float" and t.name in labels), None)
        scores = scores or next(t for t in outs.values() if t.kind == "float")
        found = tuple(classes) or tuple(labels.get(scores.name) or ())
        output = sig.Feature(options.target, "categorical", (len(found),), scores.name, found)
    else:
        scores = next(t for t in outs.values() if t.kind == "float")
        output = sig.Feature(options.target, "numeric", (1,), scores.name)
    rows = agreement.tree_rows(model, len(names))
    if nan:
        rows[::8, :: max(1, len(names) // 3)] = np.nan  # missing values take their own path
    if example is not None:
        rows = np.concatenate([np.asarray(example, dtype=np.float32), rows])
    converted = agreement.run(model, {source: rows}, scores.name)
    agreement.check(converted, predict(rows), what)
    signature = sig.Signature(tuple(ins), (output,))
    return prepare(model, signature)


def relabel(signature: sig.Signature, labels: Sequence[str] | None) -> sig.Signature:
    """The signature with `labels` as the class labels of its one categorical output."""
    if not labels:
        return signature
    outputs = [f for f in signature.outputs if f.type == "categorical"]
    if len(outputs) != 1:
        raise SignatureError("--labels names the classes of a classifier; this model is not one")
    (output,) = outputs
    known = [str(c) for c in output.categories or ()]
    if len(labels) != len(known):
        raise SignatureError(
            f"--labels gives {len(labels)} labels but the model has {len(known)} classes "
            f"({', '.join(known)})"
        )
    if len(set(labels)) != len(labels):
        raise SignatureError("--labels must name each class once")
    changed = replace(output, categories=tuple(labels))
    return replace(
        signature, outputs=tuple(changed if f is output else f for f in signature.outputs)
    )
