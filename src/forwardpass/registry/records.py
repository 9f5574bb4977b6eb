"""The registry's records, `ModelVersion` and `Deployment`, and how rows become them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from forwardpass.limits.plan import LimitOverrides
from forwardpass.model import signature as sig
from forwardpass.registry.schema import deployments, models


@dataclass(frozen=True)
class ModelVersion:
    id: int
    name: str
    version: int
    sha256: str
    size_bytes: int
    signature: sig.Signature
    created_at: datetime

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "created_at": self.created_at.isoformat(),
            "signature": self.signature.to_dict(),
        }


@dataclass(frozen=True)
class Deployment:
    id: str
    name: str
    model: ModelVersion
    token_hash: str = field(repr=False)
    enabled: bool
    api_names: dict[str, dict[str, str]]
    created_by: str
    created_at: datetime
    deployed_at: datetime | None
    updated_at: datetime
    revision: int
    limits: LimitOverrides = field(default_factory=LimitOverrides)
    image_transformation: str | None = None

    @property
    def status(self) -> str:
        return "enabled" if self.enabled else "disabled"

    def to_dict(self) -> dict[str, Any]:
        """What a user may see of a deployment: everything but the token hash."""
        return {
            "id": self.id,
            "name": self.name,
            "model": self.model.ref,
            "status": self.status,
            "api_names": self.api_names,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "deployed_at": self.deployed_at.isoformat() if self.deployed_at else None,
            "updated_at": self.updated_at.isoformat(),
            "limits": self.limits.to_dict(),  # the deployment's own; None: the plan's default
            "image_transformation": self.image_transformation,
        }


def utc_now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def model_from_row(row: Any) -> ModelVersion:
    m = row._mapping if hasattr(row, "_mapping") else row
    return ModelVersion(
        id=m["id"],
        name=m["name"],
        version=m["version"],
        sha256=m["sha256"],
        size_bytes=m["size_bytes"],
        signature=sig.Signature.from_json(m["signature"]),
        created_at=_utc(m["created_at"]) or utc_now(),
    )


_MODEL_COLUMNS = [c.label(f"m__{c.name}") for c in models.c]


def deployment_query() -> sa.Select[Any]:
    """Deployments joined to their model versions, in the rows `deployment_from_row` reads."""
    return sa.select(deployments, *_MODEL_COLUMNS).join(
        models, models.c.id == deployments.c.model_id
    )


def deployment_from_row(row: Any) -> Deployment:
    m = row._mapping
    model = model_from_row({c.name: m[f"m__{c.name}"] for c in models.c})
    return Deployment(
        id=m["id"],
        name=m["name"],
        model=model,
        token_hash=m["token_hash"],
        enabled=bool(m["enabled"]),
        api_names=json.loads(m["api_names"]),
        created_by=m["created_by"],
        created_at=_utc(m["created_at"]) or utc_now(),
        deployed_at=_utc(m["deployed_at"]),
        updated_at=_utc(m["updated_at"]) or utc_now(),
        revision=m["revision"],
        limits=LimitOverrides(**{name: m[name] for name in LimitOverrides.names()}),
        image_transformation=m["image_transformation"],
    )
