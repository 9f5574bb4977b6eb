"""The registry service: the one place that reads and changes models and deployments.

The CLI, the servers and (later) the management API all go through `Registry`, on SQLite
or PostgreSQL alike.
"""

from __future__ import annotations

import getpass
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import onnx
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from forwardpass import signature as sig
from forwardpass.errors import (
    BadData,
    Conflict,
    QuotaExceeded,
    RegistryUnavailable,
    ResourceNotFound,
    SignatureError,
)
from forwardpass.limits.plan import LimitOverrides
from forwardpass.registry import compat, migrate, names, tokens, usage
from forwardpass.registry.admin import AdminCredential
from forwardpass.registry.schema import MAX_INTEGER, deployments, models, registry_state
from forwardpass.registry.store import ModelStore
from forwardpass.settings import Settings


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


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; they were written in UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _shown_url(url: str) -> str:
    """A database URL fit to print: its password masked (or all of it, if it does not parse)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except SQLAlchemyError:
        return "(the database URL, which does not parse)"


def create_engine(url: str) -> Engine:
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets a serving process read while the CLI writes.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class Registry:
    def __init__(self, engine: Engine, store: ModelStore, *, max_enabled: int = 0) -> None:
        self.engine = engine
        self.store = store
        self.max_enabled = max_enabled  # the plan's quota of enabled deployments; 0: none
        self.admin = AdminCredential(engine)

    @classmethod
    def open(cls, settings: Settings) -> Registry:
        """Open (and create or migrate) the registry the settings name."""
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            engine = create_engine(settings.registry_url)
            migrate.upgrade(engine)
        except (OSError, ImportError, SQLAlchemyError) as exc:  # ImportError: no DB driver
            raise RegistryUnavailable(
                f"cannot open the registry {_shown_url(settings.registry_url)}: {exc}"
            ) from None
        return cls(
            engine, ModelStore(settings.model_path), max_enabled=settings.max_enabled_deployments
        )

    def close(self) -> None:
        self.engine.dispose()

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
            yield connection

    def generation(self) -> int:
        with self.engine.connect() as connection:
            value = connection.execute(
                sa.select(registry_state.c.generation).where(registry_state.c.id == 1)
            ).scalar_one()
        return int(value)

    # -- models --------------------------------------------------------------------------

    def add_model(self, data: bytes, name: str) -> ModelVersion:
        """Store an ONNX file with its signature as the next version of model `name`.

        Adding bytes identical to an existing version of `name` returns that version.
        """
        if not name or len(name) > 200 or ":" in name or "/" in name:
            raise BadData("a model name must be 1 to 200 characters, without ':' or '/'")
        try:
            proto = onnx.load_from_string(data)
        except Exception as exc:  # onnx raises DecodeError or ValueError by protobuf version
            raise BadData(f"not an ONNX file: {exc}") from None
        found = sig.read(proto)
        if found is None:
            raise SignatureError("the model carries no signature; import it with an importer")
        sig.validate(found, proto)
        sha256 = self.store.put(data)
        for _attempt in range(5):
            with self.engine.begin() as connection:
                same = connection.execute(
                    sa.select(models).where(models.c.name == name, models.c.sha256 == sha256)
                ).first()
                if same is not None:
                    return _model(same)
                latest = connection.execute(
                    sa.select(sa.func.max(models.c.version)).where(models.c.name == name)
                ).scalar()
                row = {
                    "name": name,
                    "version": (latest or 0) + 1,
                    "sha256": sha256,
                    "size_bytes": len(data),
                    "signature": found.to_json(),
                    "created_at": _now(),
                }
                try:
                    inserted = connection.execute(models.insert().values(**row))
                except IntegrityError:
                    continue  # another process took this version number; count again
                key = inserted.inserted_primary_key
                assert key is not None
                return _model({**row, "id": key[0]})
        raise Conflict(f"could not number a new version of {name!r}; try again")

    def models(self) -> list[ModelVersion]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(models).order_by(models.c.name, models.c.version))
            return [_model(row) for row in rows]

    def model(self, ref: str) -> ModelVersion:
        """The model `name:version`, or the newest version of `name`."""
        name, _, version = ref.partition(":")
        query = sa.select(models).where(models.c.name == name)
        if version:
            # isdigit() alone passes '²' and digits of other scripts; the column is 32-bit.
            if not (version.isascii() and version.isdigit()):
                raise BadData(f"a model version is a number, got {version!r}")
            if int(version) > MAX_INTEGER:
                raise ResourceNotFound(f"no model {ref!r}")
            query = query.where(models.c.version == int(version))
        else:
            query = query.order_by(models.c.version.desc()).limit(1)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise ResourceNotFound(f"no model {ref!r}")
        return _model(row)

    def delete_model(self, ref: str) -> None:
        """Delete the model version `name:version`; refused while a deployment uses it."""
        if ":" not in ref:
            raise BadData(f"name the version to delete as NAME:VERSION, got {ref!r}")
        found = self.model(ref)
        with self.engine.begin() as connection:
            users = connection.execute(
                sa.select(deployments.c.id).where(deployments.c.model_id == found.id)
            ).all()
            if users:
                listed = ", ".join(row.id for row in users)
                raise Conflict(f"model {found.ref} is used by deployment(s) {listed}")
            try:
                connection.execute(models.delete().where(models.c.id == found.id))
            except IntegrityError:
                raise Conflict(f"model {found.ref} was just deployed; it stays") from None
            shared = connection.execute(
                sa.select(models.c.id).where(models.c.sha256 == found.sha256).limit(1)
            ).first()
        if shared is None:
            self.store.delete(found.sha256)

    # -- deployments ---------------------------------------------------------------------

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
        now = _now()
        deployment_id = str(uuid.uuid4())
        row = {
            "id": deployment_id,
            "name": name or model.name,
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
            rows = connection.execute(_deployment_query().order_by(deployments.c.created_at))
            return [_deployment(row) for row in rows]

    def deployment(self, deployment_id: str) -> Deployment:
        key = _uuid(deployment_id)
        with self.engine.connect() as connection:
            row = connection.execute(_deployment_query().where(deployments.c.id == key)).first()
        if row is None:
            raise ResourceNotFound(f"no deployment {deployment_id!r}")
        return _deployment(row)

    def set_enabled(self, deployment_id: str, enabled: bool) -> Deployment:
        current = self.deployment(deployment_id)
        values: dict[str, Any] = {"enabled": enabled}
        if enabled and current.deployed_at is None:
            values["deployed_at"] = _now()
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

    def add_usage(self, counts: dict[str, dict[str, int]]) -> None:
        """Add usage counts (deployment id -> metric -> n); not a change servers reload."""
        with self.engine.begin() as connection:
            usage.add(connection, counts)

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
                .values(**values, updated_at=_now(), revision=deployments.c.revision + 1)
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


def _model(row: Any) -> ModelVersion:
    m = row._mapping if hasattr(row, "_mapping") else row
    return ModelVersion(
        id=m["id"],
        name=m["name"],
        version=m["version"],
        sha256=m["sha256"],
        size_bytes=m["size_bytes"],
        signature=sig.Signature.from_json(m["signature"]),
        created_at=_utc(m["created_at"]) or _now(),
    )


_MODEL_COLUMNS = [c.label(f"m__{c.name}") for c in models.c]


def _deployment_query() -> sa.Select[Any]:
    return sa.select(deployments, *_MODEL_COLUMNS).join(
        models, models.c.id == deployments.c.model_id
    )


def _deployment(row: Any) -> Deployment:
    m = row._mapping
    model = _model({c.name: m[f"m__{c.name}"] for c in models.c})
    return Deployment(
        id=m["id"],
        name=m["name"],
        model=model,
        token_hash=m["token_hash"],
        enabled=bool(m["enabled"]),
        api_names=json.loads(m["api_names"]),
        created_by=m["created_by"],
        created_at=_utc(m["created_at"]) or _now(),
        deployed_at=_utc(m["deployed_at"]),
        updated_at=_utc(m["updated_at"]) or _now(),
        revision=m["revision"],
        limits=LimitOverrides(**{name: m[name] for name in LimitOverrides.names()}),
        image_transformation=m["image_transformation"],
    )
