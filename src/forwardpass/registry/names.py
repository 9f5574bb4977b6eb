"""The rules for names a person gives: model and deployment names, and the API names of
features. One rule for all: 1 to 200 characters once trimmed, no control characters (a NUL
cannot be stored in PostgreSQL, a newline breaks logs and listings), and not `.` or `..`
(which a URL path would resolve away). A model name also has no `:` or `/`, which separate
its version in a reference and a URL.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from forwardpass.errors import BadData
from forwardpass.model.signature import Signature

MAX_LENGTH = 200
_MODEL_SEPARATORS = ":/"


def problem(value: Any, *, forbidden: str = "") -> str | None:
    """Why `value` is not a name (None: it is one, once trimmed)."""
    if not isinstance(value, str):
        return "it must be a string"
    name = value.strip()
    if not name or len(name) > MAX_LENGTH:
        return f"it must be 1 to {MAX_LENGTH} characters"
    if any(unicodedata.category(c) == "Cc" for c in name):
        return "it must not hold control characters (NUL, newline, tab, ...)"
    if name in (".", ".."):
        return "it must not be '.' or '..'"
    if any(c in forbidden for c in name):
        return f"it must not hold {' or '.join(map(repr, forbidden))}"
    return None


def _checked(value: Any, what: str, forbidden: str = "") -> str:
    found = problem(value, forbidden=forbidden)
    if found is not None:
        raise BadData(f"{what} {str(value)[:MAX_LENGTH]!r} is refused: {found}")
    return str(value).strip()


def model_name(name: Any) -> str:
    return _checked(name, "the model name", _MODEL_SEPARATORS)


def deployment_name(name: Any) -> str:
    return _checked(name, "the deployment name")


def api_names(signature: Signature, given: Any) -> dict[str, dict[str, str]]:
    """`given` checked against the signature, with names equal to the feature's dropped."""
    if not isinstance(given, dict) or set(given) - {"inputs", "outputs"}:
        raise BadData('API names are {"inputs": {feature: name}, "outputs": {feature: name}}')
    checked: dict[str, dict[str, str]] = {}
    for side, features in (("inputs", signature.inputs), ("outputs", signature.outputs)):
        mapping = given.get(side) or {}
        if not isinstance(mapping, dict):
            raise BadData(f"API names of {side} must be an object of feature to name")
        known = [f.name for f in features]
        unknown = [k for k in mapping if k not in known]
        if unknown:
            raise BadData(
                f"{side} {', '.join(map(repr, unknown))}: no such feature; "
                f"the {side} are {', '.join(map(repr, known))}"
            )
        final: dict[str, str] = {}
        for feature in known:
            chosen = mapping.get(feature, feature)
            final[feature] = (
                _checked(chosen, f"{side} {feature!r}:") if feature in mapping else chosen
            )
        taken: dict[str, str] = {}
        for feature, name in final.items():
            if name in taken:
                raise BadData(
                    f"{side} {taken[name]!r} and {feature!r} would both be called {name!r}; "
                    "API names must be distinct"
                )
            taken[name] = feature
        checked[side] = {f: n for f, n in final.items() if n != f}
    return checked
