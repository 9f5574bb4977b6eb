"""Every conversion is checked: the ONNX model must answer as the original does.

The rows come from the caller (an MLflow input example) or are made from the converted
graph: for tree ensembles, values between the split thresholds of each feature (never on
one, where float32 and float64 may send a row different ways), so that every branch is
taken; for other graphs, standard normal values. The tolerance is float32's: a relative
1e-4 of the answers' scale.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from forwardpass.errors import BadData

#: The difference allowed, relative to the largest answer (at least 1).
TOLERANCE = 1e-4
_TREES = ("TreeEnsembleClassifier", "TreeEnsembleRegressor")


def run(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], output: str) -> np.ndarray:
    """One output of the model on `feeds`, through ONNX Runtime as the server runs it."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return np.asarray(session.run([output], dict(feeds))[0])


def check(converted: np.ndarray, original: np.ndarray, what: str) -> None:
    """Refuse the import, showing the largest difference, unless the answers agree."""
    got = np.asarray(converted, dtype=np.float64)
    want = np.asarray(original, dtype=np.float64)
    if got.size != want.size:
        raise BadData(
            f"the converted {what} answers {got.shape} values where the original answers "
            f"{want.shape}: the conversion is not faithful; the model was not imported"
        )
    got, want = got.reshape(len(want), -1), want.reshape(len(want), -1)
    scale = max(1.0, float(np.nanmax(np.abs(want))) if want.size else 1.0)
    gap = np.abs(got - want)
    gap[np.isnan(got) & np.isnan(want)] = 0.0
    gap[np.isnan(gap)] = np.inf
    worst = np.unravel_index(int(np.argmax(gap)), gap.shape)
    if gap[worst] > TOLERANCE * scale:
        row, column = int(worst[0]), int(worst[1])
        raise BadData(
            f"the converted {what} does not answer as the original: the largest difference "
            f"is {gap[worst]:.6g} (row {row}, value {column}: the original answers "
            f"{want[row, column]:.6g}, the ONNX model {got[row, column]:.6g}), more than "
            f"the float32 tolerance of {TOLERANCE * scale:.3g}; the model was not imported"
        )


def tree_rows(model: onnx.ModelProto, width: int, count: int = 64, seed: int = 0) -> np.ndarray:
    """`count` rows of `width` float32 values that take every branch of the model's trees.

    Each feature's values are drawn from below its lowest threshold, between each pair of
    neighbouring thresholds, and above its highest; a feature no tree splits on is 0.
    """
    thresholds: dict[int, list[float]] = {}
    for node in model.graph.node:
        if node.op_type not in _TREES:
            continue
        found = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        values = found.get("nodes_values") or []
        for feature, value in zip(found.get("nodes_featureids", []), values, strict=False):
            thresholds.setdefault(int(feature), []).append(float(value))
    random = np.random.default_rng(seed)
    rows = np.zeros((count, width), dtype=np.float32)
    for feature in range(width):
        cuts = np.unique(np.asarray(thresholds.get(feature, []), dtype=np.float32))
        if not cuts.size:
            continue
        step = float(np.max(np.abs(cuts))) * 0.1 + 1.0
        points = np.concatenate([[cuts[0] - step], (cuts[1:] + cuts[:-1]) / 2, [cuts[-1] + step]])
        rows[:, feature] = random.choice(points.astype(np.float32), size=count)
    return rows
