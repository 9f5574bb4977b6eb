"""The rules for names a person gives: deployment names and the API names of features."""

from __future__ import annotations

from typing import Any

from forwardpass.errors import BadData
from forwardpass.model.signature import Signature

MAX_LENGTH = 200  # of a deployment name and of an API name


def deployment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_LENGTH:
        raise BadData(f"a deployment name is 1 to {MAX_LENGTH} characters")
    return name.strip()


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
            name = mapping.get(feature, feature)
            if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_LENGTH:
                raise BadData(f"{side} {feature!r}: an API name is 1 to {MAX_LENGTH} characters")
            final[feature] = name.strip()
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
