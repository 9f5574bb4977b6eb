"""The registry's deployments: create, change, find and delete them, and their usage.

Every change goes through `_change`, which tells serving processes to reload and orders
changes so that the plan's quota of enabled deployments holds.
"""

from __future__ import annotations

import getpass
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from forwardpass.errors import BadData, Conflict, QuotaExceeded, ResourceNotFound
from forwardpass.limits.plan import LimitOverrides
from forwardpass.model import signature as sig
from forwardpass.registry import changes, compat, names, tokens, usage
from forwardpass.registry.records import (
    Deployment,
    ModelVersion,
    deployment_from_row,
    deployment_query,
    utc_now,
)
from forwardpass.registry.schema import deployments, registry_state


class Deployments:
    """The deployment operations of `Registry`, which supplies the attributes below."""

    engine: Engine
    max_enabled: int
    model: Callable[[str], ModelVersion]  # from `ModelVersions`

    @contextmanager
    def _change(self) -> Iterator[Connection]:
        """A write transaction that also tells serving processes something changed."""
        with self.engine.begin() as connection:
            # First, so that its lock orders all changes: a check made inside (the quota)
            # sees every change committed before, and two racing changes cannot both pass.
            connection.execute(
                registry_state.update()
                .where(registry_state.c.id == 1)
                .values(generation=registry_state.c.generation + 1)
            )
            changes.announce(connection)
            yield connection

    def generation(self) -> int:
        with self.engine.connect() as connection:
            value = connection.execute(
                sa.select(registry_state.c.generation).where(registry_state.c.id == 1)
            ).scalar_one()
        return int(value)

    def served_url(self) -> str | None:
        """The base URL the newest server recorded (None before any server started)."""
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(registry_state.c.served_url).where(registry_state.c.id == 1)
            ).scalar()
        return str(found) if found else None

    def record_served_url(self, url: str) -> None:
        """Record a server's base URL; not a change serving processes reload."""
        with self.engine.begin() as connection:
            connection.execute(
                registry_state.update()
                .where(registry_state.c.id == 1, registry_state.c.served_url.is_distinct_from(url))
                .values(served_url=url)
            )

    def create_deployment(
        self,
        model_ref: str,
        name: str | None = None,
        *,
        created_by: str | None = None,
        enabled: bool = True,
        image_transformation: str | None = None,
    ) -> tuple[Deployment, str]:
        """Deploy a model version; returns the deployment and its token (shown only now)."""
        model = self.model(model_ref)
        check_transformation(image_transformation)
        token = tokens.new_token()
        now = utc_now()
        deployment_id = str(uuid.uuid4())
        row = {
            "id": deployment_id,
            "name": model.name if name is None else names.deployment_name(name),
            "model_id": model.id,
            "token_hash": tokens.hash_token(token),
            "enabled": enabled,
            "api_names": json.dumps({"inputs": {}, "outputs": {}}),
            "created_by": created_by or _user(),
            "created_at": now,
            "deployed_at": now if enabled else None,
            "updated_at": now,
            "revision": 1,
            "image_transformation": image_transformation,
        }
        with self._change() as connection:
            if enabled:
                self._check_quota(connection, deployment_id)
            connection.execute(deployments.insert().values(**row))
        return self.deployment(deployment_id), token

    def deployments(self) -> list[Deployment]:
        with self.engine.connect() as connection:
            rows = connection.execute(deployment_query().order_by(deployments.c.created_at))
            return [deployment_from_row(row) for row in rows]

    def deployment(self, deployment_id: str) -> Deployment:
        key = _uuid(deployment_id)
        with self.engine.connect() as connection:
            row = connection.execute(deployment_query().where(deployments.c.id == key)).first()
        if row is None:
            raise ResourceNotFound(f"no deployment {deployment_id!r}")
        return deployment_from_row(row)

    def set_enabled(self, deployment_id: str, enabled: bool) -> Deployment:
        return self.update_deployment(deployment_id, {"enabled": enabled})

    def update_deployment(self, deployment_id: str, values: dict[str, Any]) -> Deployment:
        """Write checked column values to a deployment in one transaction: all or nothing.

        Callers check the values first (see `changes.apply_changes`); the quota of enabled
        deployments is checked here, inside the transaction that writes them.
        """
        current = self.deployment(deployment_id)
        if values.get("enabled") and current.deployed_at is None:
            values = {**values, "deployed_at": utc_now()}
        self._update(current.id, values)
        return self.deployment(current.id)

    def rotate_token(self, deployment_id: str) -> tuple[Deployment, str]:
        """A new token for the deployment; the old one stops working at once."""
        current = self.deployment(deployment_id)
        token = tokens.new_token()
        self._update(current.id, {"token_hash": tokens.hash_token(token)})
        return self.deployment(current.id), token

    def set_image_transformation(self, deployment_id: str, name: str | None) -> Deployment:
        """Choose how the deployment fits images to its model (None: the model's default)."""
        check_transformation(name)
        current = self.deployment(deployment_id)
        self._update(current.id, {"image_transformation": name})
        return self.deployment(current.id)

    def rename(self, deployment_id: str, name: str) -> Deployment:
        current = self.deployment(deployment_id)
        self._update(current.id, {"name": names.deployment_name(name)})
        return self.deployment(current.id)

    def set_api_names(self, deployment_id: str, api_names: dict[str, dict[str, str]]) -> Deployment:
        """Set the names the API uses for features: {"inputs"|"outputs": {feature: name}}.

        Names must be non-empty and distinct on each side; a feature not named keeps its own.
        """
        current = self.deployment(deployment_id)
        checked = names.api_names(current.model.signature, api_names)
        self._update(current.id, {"api_names": json.dumps(checked)})
        return self.deployment(current.id)

    def switch_model(self, deployment_id: str, model_ref: str) -> Deployment:
        """Serve another version of the deployment's model, keeping its URL, token and names.

        Refused (IncompatibleModel, naming the differences) when the new version's inputs
        or outputs differ. Serving processes swap to it without failing a request.
        """
        current = self.deployment(deployment_id)
        target = self.model(model_ref)
        compat.require_fit(current, target)
        self._update(current.id, {"model_id": target.id})
        return self.deployment(current.id)

    def is_deployment_token(self, token: str | None) -> bool:
        """Whether `token` opens some deployment (to tell a wrong token from a wrong scope)."""
        if not token:
            return False
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(deployments.c.id).where(
                    deployments.c.token_hash == tokens.hash_token(token)
                )
            ).first()
        return found is not None

    def delete_deployment(self, deployment_id: str) -> None:
        current = self.deployment(deployment_id)
        with self._change() as connection:
            # Checked inside the transaction so that an enable racing the delete wins.
            deleted = connection.execute(
                deployments.delete().where(
                    deployments.c.id == current.id, deployments.c.enabled.is_(False)
                )
            ).rowcount
        if not deleted:
            raise Conflict(f"deployment {current.id} is enabled; disable it before deleting it")

    def set_limits(self, deployment_id: str, limits: dict[str, Any]) -> Deployment:
        """Override some of a deployment's limits; a value of None goes back to the plan's."""
        current = self.deployment(deployment_id)
        LimitOverrides(**{**current.limits.to_dict(), **limits})  # validates the result
        self._update(current.id, limits)  # only what was given: racing updates both land
        return self.deployment(current.id)

    def add_usage(
        self,
        counts: dict[str, dict[str, int]],
        minutes: usage.Buckets | None = None,
        now: float | None = None,
    ) -> None:
        """Add usage counts (deployment id -> metric -> n) and per-minute tallies, in one
        transaction; not a change servers reload. Buckets older than their window go."""
        with self.engine.begin() as connection:
            if counts:
                usage.add(connection, counts)
            if minutes:
                usage.add_buckets(connection, minutes, time.time() if now is None else now)

    def usage_series(
        self, deployment_id: str, window: str, now: float | None = None
    ) -> list[tuple[int, usage.Tally]]:
        """The deployment's usage over `window` ("day" or "month"), oldest bucket first."""
        with self.engine.connect() as connection:
            return usage.series(
                connection, _uuid(deployment_id), window, time.time() if now is None else now
            )

    def usage(self, deployment_id: str) -> dict[str, int]:
        with self.engine.connect() as connection:
            return usage.read(connection, _uuid(deployment_id))

    def _check_quota(self, connection: Connection, deployment_id: str) -> None:
        """Refuse to enable one deployment more than the plan allows (inside `_change`)."""
        if self.max_enabled <= 0:
            return
        already = connection.execute(
            sa.select(deployments.c.enabled).where(deployments.c.id == deployment_id)
        ).scalar()
        if already:
            return  # enabling an enabled deployment takes no new slot
        enabled = connection.execute(
            sa.select(sa.func.count())
            .select_from(deployments)
            .where(deployments.c.enabled.is_(True), deployments.c.id != deployment_id)
        ).scalar_one()
        if enabled >= self.max_enabled:
            raise QuotaExceeded(
                f"the plan allows at most {self.max_enabled} enabled deployments and "
                f"{enabled} are enabled: disable one first, or raise the plan's limit "
                f"(FORWARDPASS_MAX_ENABLED_DEPLOYMENTS)"
            )

    def _update(self, deployment_id: str, values: dict[str, Any]) -> None:
        with self._change() as connection:
            if values.get("enabled"):
                self._check_quota(connection, deployment_id)
            connection.execute(
                deployments.update()
                .where(deployments.c.id == deployment_id)
                .values(**values, updated_at=utc_now(), revision=deployments.c.revision + 1)
            )


def check_transformation(name: Any) -> None:
    """Refuse a name that is not one of the image transformations (None: the model's)."""
    if name is not None and name not in sig.TRANSFORMATIONS:
        raise BadData(
            f"unknown image transformation {name!r}; choose one of {', '.join(sig.TRANSFORMATIONS)}"
        )


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise ResourceNotFound(f"no deployment {value!r}: a deployment ID is a UUID") from None


def _user() -> str:
    try:
        return getpass.getuser()
    except OSError:
        return "unknown"
