"""The registry service: the one place that reads and changes models and deployments.

The CLI, the servers and the management API all go through `Registry`, on SQLite or
PostgreSQL alike. Its model and deployment operations live in `ModelVersions` and
`Deployments`; this module opens and closes it.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from forwardpass.errors import RegistryUnavailable
from forwardpass.registry import migrate
from forwardpass.registry.admin import AdminCredential
from forwardpass.registry.database_store import DatabaseStore
from forwardpass.registry.deployments import Deployments
from forwardpass.registry.engine import create_engine, shown_url
from forwardpass.registry.model_versions import ModelVersions
from forwardpass.registry.store import ModelStore, Store
from forwardpass.settings import Settings


class Registry(ModelVersions, Deployments):
    def __init__(
        self,
        engine: Engine,
        store: Store,
        *,
        max_enabled: int = 0,
        load_memory_mb: int = 4096,
        load_seconds: float = 60.0,
    ) -> None:
        self.engine = engine
        self.store = store
        self.max_enabled = max_enabled  # the plan's quota of enabled deployments; 0: none
        # The limits of the load check every model passes before it is stored.
        self.load_memory_mb = load_memory_mb
        self.load_seconds = load_seconds
        self.admin = AdminCredential(engine)

    @classmethod
    def open(cls, settings: Settings, *, migrating: bool | None = None) -> Registry:
        """Open (and create or migrate) the registry the settings name. `migrating`: whether
        to migrate (None: always on SQLite, on PostgreSQL as `migrate_on_start` says)."""
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                settings.registry_url,
                connect_timeout=settings.database_connect_timeout,
                statement_timeout=settings.database_statement_timeout,
            )
        except (OSError, ImportError, SQLAlchemyError) as exc:  # ImportError: no DB driver
            raise RegistryUnavailable(
                f"cannot open the registry {shown_url(settings.registry_url)}: {exc}"
            ) from None
        if migrating is None:
            migrating = settings.migrate_on_start or not settings.on_postgres
        try:
            if migrating:
                migrate.upgrade(engine)
            else:
                migrate.require_current(engine)
        except BaseException as exc:
            engine.dispose()  # its connections, not left to the garbage collector
            if isinstance(exc, SQLAlchemyError):
                raise RegistryUnavailable(
                    f"cannot open the registry {shown_url(settings.registry_url)}: {exc}"
                ) from None
            raise
        folder = ModelStore(settings.model_path)
        store: Store = (
            DatabaseStore(engine, ModelStore(settings.model_cache_path), folder)
            if settings.model_in_database
            else folder
        )
        return cls(
            engine,
            store,
            max_enabled=settings.max_enabled_deployments,
            load_memory_mb=settings.model_load_memory_mb,
            load_seconds=settings.model_load_seconds,
        )

    def close(self) -> None:
        self.engine.dispose()
