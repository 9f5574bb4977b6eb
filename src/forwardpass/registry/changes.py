"""Changes to a deployment as the API, the pages and the CLI ask for them, checked first.

`apply_changes` validates every requested change first, so a request that fails changes
nothing.
"""

from __future__ import annotations

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
}


def apply_changes(registry: Registry, deployment_id: str, body: dict[str, Any]) -> Deployment:
    """Apply {name, status, api_names, model, limits, image_transformation} to a deployment,
    all or nothing.

    `limits` maps limit names to values; a value of None goes back to the plan's default, as
    an `image_transformation` of None (or "default") goes back to the model's own.
    """
    current = registry.deployment(deployment_id)
    signature = current.model.signature
    if "model" in body:
        if not isinstance(body["model"], str) or not body["model"]:
            raise BadData('"model" must be "NAME:VERSION"')
        target = registry.model(body["model"])
        compat.require_fit(current, target)
        signature = target.signature
    if "name" in body:
        names.deployment_name(body["name"])
    transformation = body.get("image_transformation")
    if transformation == "default":
        transformation = None
    if "image_transformation" in body:
        check_transformation(transformation)
    if "status" in body and body["status"] not in _STATUSES:
        raise BadData('"status" must be "enabled" or "disabled"')
    if "api_names" in body:
        names.api_names(signature, body["api_names"])
    if "limits" in body:
        limits = body["limits"]
        if not isinstance(limits, dict) or set(limits) - set(LimitOverrides.names()):
            raise BadData(f'"limits" must be an object with some of {LimitOverrides.names()}')
        for name, value in limits.items():
            _check_limit(name, value)
        LimitOverrides(**{**current.limits.to_dict(), **limits})  # validates the result

    if "model" in body:
        registry.switch_model(current.id, body["model"])
    if "api_names" in body:
        registry.set_api_names(current.id, body["api_names"])
    if "name" in body:
        registry.rename(current.id, body["name"])
    if "limits" in body:
        registry.set_limits(current.id, body["limits"])
    if "image_transformation" in body:
        registry.set_image_transformation(current.id, transformation)
    if "status" in body:
        registry.set_enabled(current.id, _STATUSES[body["status"]])
    return registry.deployment(current.id)


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
