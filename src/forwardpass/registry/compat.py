"""Whether a model version fits a deployment's API: the check before a version switch.

A deployment keeps its URL, token and API names across a switch, so its clients must not
notice: every input and output keeps its name, type, shape and categories. How the
features map onto the graph's tensors may change; that is the model's own business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forwardpass.errors import IncompatibleModel
from forwardpass.model.signature import Feature, Signature

if TYPE_CHECKING:
    from forwardpass.registry.records import Deployment, ModelVersion


def require_fit(deployment: Deployment, target: ModelVersion) -> None:
    """Raise IncompatibleModel, naming every difference, unless `target` is a version of the
    deployment's model with the same API."""
    found = differences(deployment.model.signature, target.signature)
    if target.name != deployment.model.name:
        found.insert(
            0,
            f"it is a version of {target.name!r}, not of the deployment's model "
            f"{deployment.model.name!r}: deploy it as a new deployment instead",
        )
    if found:
        raise IncompatibleModel(
            f"{target.ref} does not fit deployment {deployment.id}: " + "; ".join(found)
        )


def differences(old: Signature, new: Signature) -> list[str]:
    """What a client would notice when `new` replaced `old`; empty when it fits."""
    return _side("input", old.inputs, new.inputs) + _side("output", old.outputs, new.outputs)


def _side(side: str, old: tuple[Feature, ...], new: tuple[Feature, ...]) -> list[str]:
    before = {f.name: f for f in old}
    after = {f.name: f for f in new}
    found = [f"{side} {name!r} is gone" for name in before if name not in after]
    found += [f"{side} {name!r} is new" for name in after if name not in before]
    for name in before.keys() & after.keys():
        a, b = before[name], after[name]
        if a.type != b.type:
            found.append(f"{side} {name!r} changed type from {a.type} to {b.type}")
        if a.shape != b.shape:
            found.append(f"{side} {name!r} changed shape from {list(a.shape)} to {list(b.shape)}")
        if a.categories != b.categories:
            found.append(f"{side} {name!r} changed its categories")
    return sorted(found)
