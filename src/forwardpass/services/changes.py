"""Changes to a deployment as the API, the pages and the CLI ask for them, checked first.

`apply_changes` checks every requested change first and writes them in one transaction, so
a request that fails changes nothing.
"""

from __future__ import annotations

import json
import math
from typing import Any

from forwardpass.errors import BadData
from forwardpass.limits.plan import LimitOverrides
from forwardpass.registry import compat, names
from forwardpass.registry.deployments import check_transformation
from forwardpass.registry.records import Deployment
from forwardpass.registry.schema import MAX_BIG_INTEGER, MAX_INTEGER
from forwardpass.registry.service import Registry

_STATUSES = {"enabled": True, "disabled": False}
# Each limit's type and the largest value its column holds (rate is a float).
_LIMIT_TYPES: dict[str, tuple[type, float]] = {
    "max_body_bytes": (int, MAX_BIG_INTEGER),
    "max_rows": (int, MAX_INTEGER),
    "rate": (float, math.inf),
    "burst": (int, MAX_INTEGER),
    "run_timeout": (float, math.inf),  # seconds; LimitOverrides refuses 0 and infinity
}


def apply_changes(registry: Registry, deployment_id: str, body: dict[str, Any]) -> Deployment:
    """Apply {name, status, api_names, model, limits, image_transformation} to a deployment,
    all or nothing.

    `limits` maps limit names to values; a value of None goes back to the plan's default, as
    an `image_transformation` of None (or "default") goes back to the model's own.
    """
    current = registry.deployment(deployment_id)
    signature = current.model.signature
    values: dict[str, Any] = {}
    if "model" in body:
        if not isinstance(body["model"], str) or not body["model"]:
            raise BadData('"model" must be "NAME:VERSION"')
        target = registry.model(body["model"])
        compat.require_fit(current, target)
        signature = target.signature
        values["model_id"] = target.id
    if "name" in body:
        values["name"] = names.deployment_name(body["name"])
    if "image_transformation" in body:
        transformation = body["image_transformation"]
        if transformation == "default":
            transformation = None
        check_transformation(transformation)
        values["image_transformation"] = transformation
    if "status" in body:
        if body["status"] not in _STATUSES:
            raise BadData('"status" must be "enabled" or "disabled"')
        values["enabled"] = _STATUSES[body["status"]]
    if "api_names" in body:
        values["api_names"] = json.dumps(names.api_names(signature, body["api_names"]))
    if "limits" in body:
        limits = body["limits"]
        if not isinstance(limits, dict) or set(limits) - set(LimitOverrides.names()):
            raise BadData(f'"limits" must be an object with some of {LimitOverrides.names()}')
        for name, value in limits.items():
            _check_limit(name, value)
        LimitOverrides(**{**current.limits.to_dict(), **limits})  # validates the result
        values.update(limits)  # only what was given: racing updates of other limits both land
    if not values:
        return current
    # One transaction, which also checks the quota when enabling: a refusal there leaves
    # every other change of the request unwritten too.
    return registry.update_deployment(current.id, values)


def _check_limit(name: str, value: Any) -> None:
    """A limit is null (the plan's) or a number of its kind that its column can hold."""
    if value is None:
        return
    kind, largest = _LIMIT_TYPES[name]
    allowed = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, allowed):
        raise BadData(f"limits.{name} must be {'a number' if kind is float else 'an integer'}")
    if value > largest:
        raise BadData(f"limits.{name} must be at most {largest}, got {value}")
