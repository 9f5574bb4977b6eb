"""Import a saved scikit-learn estimator or pipeline: a pickle (`.pkl`, `.joblib`) or a
`.skops` file. The stored model is the ONNX file converted from it, never the pickle.

Unpickling runs whatever code the file names, so a pickle is loaded only by the command
line, on the operator's own machine, when the operator says it is trusted
(`--trust-pickle`); never over the network. A `.skops` file is loaded with skops' check of
the types it holds: types outside skops' trusted defaults and the estimators forwardpass
converts are refused, named, unless the operator trusts the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import pandas as pd

from forwardpass.errors import BadData
from forwardpass.importers import extras, trees

SKOPS = (".skops",)

#: Types a .skops file may hold beyond skops' own trusted defaults: numpy's dtypes (data),
#: and the boosters forwardpass converts, whose state is their model text.
KNOWN_TYPES = frozenset(
    {
        "numpy.dtype",
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
        "lightgbm.sklearn.LGBMRegressor",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
        "xgboost.sklearn.XGBRegressor",
    }
)

REFUSED = (
    "{name} is a pickled Python object (a .pkl or .joblib file): unpickling it runs any code "
    "it holds, so forwardpass never does unless told. If you trust the file, import it on "
    "your own machine with `forwardpass model import {name} --trust-pickle`: it is "
    "converted to ONNX and only that is kept. Or, in Python where the pipeline was "
    "trained, write it with forwardpass.importers.sklearn.save(pipeline, sample_frame, "
    "'model.onnx') and import that file. A pickle is never taken over the management API "
    "or the pages"
)


def import_file(
    path: Path, options: trees.Options, sample: pd.DataFrame | None = None
) -> onnx.ModelProto:
    """The forwardpass model of a saved estimator, checked against it."""
    from forwardpass.importers import estimators  # scikit-learn, only when needed

    return estimators.convert(load(path, options.trust_pickle), options, sample)


def load(path: Path, trusted: bool, known: frozenset[str] = KNOWN_TYPES) -> Any:
    """The estimator a pickle or .skops file holds (a pickle only when `trusted`)."""
    if path.suffix.lower() in SKOPS:
        return _skops(path, trusted, known)
    if not trusted:
        raise BadData(REFUSED.format(name=path.name))
    import joblib  # scikit-learn's own dependency; it reads plain pickles too

    try:
        return joblib.load(path)
    except Exception as exc:  # whatever the unpickled code raises
        raise BadData(f"{path.name} could not be unpickled: {exc}") from None


def _skops(path: Path, trusted: bool, known: frozenset[str]) -> Any:
    sio = extras.need("skops.io", "skops", "a .skops file")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # a file that is not a skops archive
        raise BadData(f"{path.name} is not a skops file: {exc}") from None
    unknown = sorted(set(untrusted) - known)
    if unknown and not trusted:
        raise BadData(
            f"{path.name} holds types skops does not trust: {', '.join(unknown)}. If you "
            "trust the file, import it with --trust-pickle"
        )
    return sio.load(path, trusted=list(untrusted))
