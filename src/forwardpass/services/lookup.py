"""Finding a deployment the way people name it: its ID, a unique prefix of the ID (as git
takes a commit's), or its name when no other deployment has it."""

from __future__ import annotations

import uuid

from forwardpass.errors import BadData, ResourceNotFound
from forwardpass.registry import Deployment, Registry

#: Fewer characters than this are too easily shared to be a prefix worth guessing from.
MIN_PREFIX = 4


def find_deployment(registry: Registry, ref: str) -> Deployment:
    """The one deployment `ref` names; ResourceNotFound if none, BadData if several."""
    try:
        return registry.deployment(str(uuid.UUID(ref)))
    except ValueError:
        pass
    everything = registry.deployments()
    named = [d for d in everything if d.name == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise BadData(_ambiguous(f"{len(named)} deployments are named {ref!r}", named))
    key = ref.lower()
    if len(key) >= MIN_PREFIX:
        prefixed = [d for d in everything if d.id.startswith(key)]
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            raise BadData(
                _ambiguous(f"{len(prefixed)} deployment IDs start with {ref!r}", prefixed)
            )
    raise ResourceNotFound(
        f"no deployment {ref!r}: give its ID, a unique prefix of it "
        f"(at least {MIN_PREFIX} characters) or its name"
    )


def _ambiguous(what: str, found: list[Deployment]) -> str:
    listed = ", ".join(f"{d.id} ({d.name})" for d in found[:5])
    return f"{what}: {listed}; give the ID"
