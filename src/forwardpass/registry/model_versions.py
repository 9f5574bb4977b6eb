"""The registry's model versions: add, list, find and delete them."""

from __future__ import annotations

import onnx
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from forwardpass.errors import BadData, Conflict, ResourceNotFound, SignatureError
from forwardpass.model import graph
from forwardpass.model import signature as sig
from forwardpass.registry import names
from forwardpass.registry.records import ModelVersion, model_from_row, utc_now
from forwardpass.registry.schema import MAX_INTEGER, deployments, models
from forwardpass.registry.store import Store
from forwardpass.runtime import load_check


class ModelVersions:
    """The model operations of `Registry`, which sets the attributes below."""

    engine: Engine
    store: Store
    load_memory_mb: int
    load_seconds: float

    def add_model(self, data: bytes, name: str) -> ModelVersion:
        """Store an ONNX file with its signature as the next version of model `name`.

        Adding bytes identical to an existing version of `name` returns that version.
        """
        name = names.model_name(name)
        try:
            proto = onnx.load_from_string(data)
        except Exception as exc:  # onnx raises DecodeError or ValueError by protobuf version
            raise BadData(f"not an ONNX file: {exc}") from None
        graph.require_self_contained(proto)
        found = sig.read(proto)
        if found is None:
            raise SignatureError("the model carries no signature; import it with an importer")
        sig.validate(found, proto)
        load_check.check(data, memory_mb=self.load_memory_mb, seconds=self.load_seconds)
        with self.store.adding(data) as sha256:
            for _attempt in range(5):
                with self.engine.begin() as connection:
                    same = connection.execute(
                        sa.select(models).where(models.c.name == name, models.c.sha256 == sha256)
                    ).first()
                    if same is not None:
                        return model_from_row(same)
                    latest = connection.execute(
                        sa.select(sa.func.max(models.c.version)).where(models.c.name == name)
                    ).scalar()
                    row = {
                        "name": name,
                        "version": (latest or 0) + 1,
                        "sha256": sha256,
                        "size_bytes": len(data),
                        "signature": found.to_json(),
                        "created_at": utc_now(),
                    }
                    try:
                        inserted = connection.execute(models.insert().values(**row))
                    except IntegrityError:
                        continue  # another process took this version number; count again
                    key = inserted.inserted_primary_key
                    assert key is not None
                    return model_from_row({**row, "id": key[0]})
        raise Conflict(f"could not number a new version of {name!r}; try again")

    def clean_store(self) -> None:
        """Remove the files that interrupted imports left in the model store (at start)."""

        def recorded() -> set[str]:
            with self.engine.connect() as connection:
                return set(connection.execute(sa.select(models.c.sha256)).scalars())

        self.store.clean(recorded)

    def models(self) -> list[ModelVersion]:
        with self.engine.connect() as connection:
            rows = connection.execute(sa.select(models).order_by(models.c.name, models.c.version))
            return [model_from_row(row) for row in rows]

    def model(self, ref: str) -> ModelVersion:
        """The model `name:version`, or the newest version of `name`."""
        name, _, version = ref.rpartition(":") if ":" in ref else (ref, "", "")
        if "\x00" in ref:  # no stored name holds one, and PostgreSQL refuses it in a query
            raise ResourceNotFound(f"no model {ref!r}")
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
        return model_from_row(row)

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
