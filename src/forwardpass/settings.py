"""Settings: one typed object; environment variables enter only here.

Each setting is read from `FORWARDPASS_<NAME>` unless given explicitly; the CLI passes its
flags as explicit values. `SETTINGS_HELP` feeds the CLI's help and the README's table.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

#: The longest text one text input takes, in characters, unless set otherwise.
MAX_TEXT_CHARS = 100_000


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "forwardpass"


LOG_LEVELS = ("debug", "info", "warning", "error")
MIN_ADMIN_TOKEN = 16
MODEL_STORES = ("auto", "files", "database")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(
        default_factory=_default_data_dir,
        metadata={"help": "Where the SQLite registry and the model store live."},
    )
    database_url: str = field(
        default="",
        metadata={"help": "SQLAlchemy URL of the registry; empty means SQLite in data_dir."},
    )
    database_connect_timeout: float = field(
        default=5.0,
        metadata={"help": "Seconds to wait for a connection to the registry database."},
    )
    database_statement_timeout: float = field(
        default=10.0,
        metadata={
            "help": "Seconds one registry query may take (also SQLite's wait for a lock); "
            "beyond it the management API answers 503."
        },
    )
    model_dir: str = field(
        default="",
        metadata={"help": "The content-addressed model store; empty means data_dir/models."},
    )
    model_store: str = field(
        default="auto",
        metadata={
            "help": "Where model bytes live: files (the model folder), database (the registry "
            "database, fetched once into model_cache_dir by each node), or auto: database "
            "with PostgreSQL, files with SQLite."
        },
    )
    model_cache_dir: str = field(
        default="",
        metadata={
            "help": "This node's cache of model bytes fetched from the database store, files "
            "named by sha256; empty means data_dir/model-cache."
        },
    )
    migrate_on_start: bool = field(
        default=True,
        metadata={
            "help": "Bring a PostgreSQL registry to the newest schema when a command opens it; "
            "false leaves that to `forwardpass migrate` (SQLite always migrates)."
        },
    )
    public_url: str = field(
        default="",
        metadata={"help": "The base URL clients use; empty means http://HOST:PORT."},
    )
    host: str = field(default="127.0.0.1", metadata={"help": "The address to listen on."})
    port: int = field(default=8000, metadata={"help": "The port to listen on."})
    # The plan: limits of the installation; a deployment may override the per-deployment ones.
    max_enabled_deployments: int = field(
        default=50, metadata={"help": "Plan: most deployments enabled at once; 0 means no limit."}
    )
    max_body_bytes: int = field(
        default=32 * 1024 * 1024,
        metadata={"help": "Plan default: largest request body a prediction may send, in bytes."},
    )
    max_rows: int = field(
        default=10_000, metadata={"help": "Plan default: most rows one prediction may send."}
    )
    rate: float = field(
        default=0.0,
        metadata={"help": "Plan default: requests a second per deployment; 0 means no limit."},
    )
    burst: int = field(
        default=0,
        metadata={"help": "Plan default: requests allowed at once above the rate; 0 means rate."},
    )
    max_queue_rows: int = field(
        default=16_384,
        metadata={"help": "Most rows waiting for one model; beyond it requests get 503."},
    )
    redis_url: str = field(
        default="",
        metadata={"help": "Redis URL for rate limits shared by processes; empty: in memory."},
    )
    redis_prefix: str = field(
        default="forwardpass:", metadata={"help": "Prefix of the keys forwardpass sets in Redis."}
    )
    redis_fail_open: bool = field(
        default=True,
        metadata={"help": "When Redis is unreachable, serve without rate limits (else 503)."},
    )
    usage_flush_seconds: float = field(
        default=5.0, metadata={"help": "How often a server writes usage counts to the registry."}
    )
    max_batch_rows: int = field(
        default=1024, metadata={"help": "Most rows the batcher merges into one model call."}
    )
    model_load_memory_mb: int = field(
        default=4096,
        metadata={
            "help": "Address space, in MiB, of the child process that loads each model once "
            "before it is stored; a model that cannot load within it is refused."
        },
    )
    model_load_seconds: float = field(
        default=60.0,
        metadata={"help": "Longest that loading a model may take before it is stored."},
    )
    run_timeout: float = field(
        default=30.0,
        metadata={
            "help": "Longest a model call may run, in seconds; then ONNX Runtime stops it "
            "and its requests get 504 ModelTimeout."
        },
    )
    max_text_chars: int = field(
        default=MAX_TEXT_CHARS,
        metadata={
            "help": "Longest text a prediction may send in one text input, in characters; "
            "a longer one is a 400 naming its row."
        },
    )
    max_image_bytes: int = field(
        default=20 * 1024 * 1024,
        metadata={"help": "Largest encoded image a prediction may send, in bytes."},
    )
    max_image_pixels: int = field(
        default=50_000_000,
        metadata={"help": "Most pixels one image may hold, read from its header."},
    )
    max_request_pixels: int = field(
        default=400_000_000,
        metadata={"help": "Most pixels the images of one request may hold (per image input)."},
    )
    max_decoding_pixels: int = field(
        default=100_000_000,
        metadata={
            "help": "Most image pixels one server process decodes at once, for all requests; "
            "one deployment holds at most half of it."
        },
    )
    ort_threads: int = field(
        default=0,
        metadata={
            "help": "ONNX Runtime intra-op threads per model in each worker; 0 means the "
            "usable cores divided by the workers, at least 1."
        },
    )
    workers: int = field(
        default=0,
        metadata={
            "help": "Worker processes of `serve`; 0 means one per usable core when rate "
            "limits are shared through Redis, else one (memory limits are per process)."
        },
    )
    shutdown_timeout: float = field(
        default=30.0,
        metadata={
            "help": "Seconds a stopping server waits for the requests in flight; then it "
            "stops them, model calls included."
        },
    )
    drain_seconds: float = field(
        default=5.0,
        metadata={
            "help": "After SIGTERM, seconds a server answers /readyz with 503 while it keeps "
            "serving, so that the load balancer takes it out; then it finishes the requests "
            "it accepted and exits."
        },
    )
    execution_providers: str = field(
        default="",
        metadata={
            "help": "ONNX Runtime execution providers, in order of preference, comma "
            "separated; empty means CUDAExecutionProvider,CPUExecutionProvider when "
            "onnxruntime-gpu is installed and a GPU is visible, else CPUExecutionProvider."
        },
    )
    lane: bool = field(
        default=True,
        metadata={
            "help": "Answer predictions on the HTTP protocol's own lane (faster); false sends "
            "them through the ASGI app like every other request."
        },
    )
    cors_origins: str = field(
        default="",
        metadata={
            "help": "Origins (comma-separated, or *) whose web pages may call the deployments' "
            "forward and openapi.json endpoints from a browser (CORS); empty means none."
        },
    )
    header_timeout: float = field(
        default=10.0,
        metadata={
            "help": "Seconds a client has to send a request's line and headers, and a new "
            "connection to start one; then 408 and the connection is closed."
        },
    )
    body_timeout: float = field(
        default=10.0,
        metadata={"help": "Longest pause in a request body, in seconds; then 408 and a close."},
    )
    body_min_rate: int = field(
        default=4096,
        metadata={
            "help": "Slowest average a request body may arrive at after its first "
            "body_timeout seconds, in bytes a second; 0 means no minimum."
        },
    )
    max_connections: int = field(
        default=1000,
        metadata={
            "help": "Most open connections per worker process; beyond it new ones get 503. "
            "Never more than the open-file limit less 128; 0 means that limit."
        },
    )
    refresh_seconds: float = field(
        default=0.5,
        metadata={"help": "How often a server looks for registry changes, in seconds."},
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error."})
    admin_token: str = field(
        default="",
        repr=False,
        metadata={
            "help": "The admin token of the management API and pages; empty means the one "
            "stored, or one generated on the first start and printed once."
        },
    )

    metrics_token: str = field(
        default="",
        repr=False,
        metadata={
            "help": "A token that GET /metrics then needs as 'Authorization: Bearer'; "
            "empty means /metrics is open, as Prometheus expects by default."
        },
    )
    admin_failures_per_client: int = field(
        default=10,
        metadata={
            "help": "Wrong admin tokens one client address may send a minute (burst and "
            "rate, per process) before 429; 0 means no limit."
        },
    )
    admin_failures_total: int = field(
        default=60,
        metadata={
            "help": "Wrong admin tokens all clients together may send a minute (per "
            "process) before 429; 0 means no limit."
        },
    )

    def __post_init__(self) -> None:
        # Checked here so that a wrong level is a clean error, not a traceback from logging.
        level = self.log_level.lower()
        if level not in LOG_LEVELS:
            raise ValueError(
                f"{env_name('log_level')}={self.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            )
        object.__setattr__(self, "log_level", level)
        for name in ("database_connect_timeout", "database_statement_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{env_name(name)} must be more than 0 seconds")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"the port must be 0 to 65535, got {self.port}")
        for name in ("header_timeout", "body_timeout", "shutdown_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{env_name(name)} must be above 0, got {getattr(self, name)}")
        if self.admin_token and len(self.admin_token) < MIN_ADMIN_TOKEN:
            # Guessing is throttled, not impossible: a short token falls to a patient guesser.
            raise ValueError(
                f"{env_name('admin_token')} is {len(self.admin_token)} characters; an admin "
                f"token needs at least {MIN_ADMIN_TOKEN} (leave it unset to have one generated)"
            )
        for name in ("body_min_rate", "max_connections"):
            if getattr(self, name) < 0:
                raise ValueError(f"{env_name(name)} must be 0 or more, got {getattr(self, name)}")
        if self.model_store not in MODEL_STORES:
            raise ValueError(
                f"{env_name('model_store')}={self.model_store!r} is not one of "
                f"{', '.join(MODEL_STORES)}"
            )
        if self.drain_seconds < 0:
            raise ValueError(f"{env_name('drain_seconds')} must be 0 or more")
        for origin in self.cors_origin_list:
            # A browser sends scheme://host[:port]; anything else would never match.
            if origin != "*" and ("://" not in origin or "/" in origin.split("://", 1)[1]):
                raise ValueError(
                    f"{env_name('cors_origins')}: {origin!r} is not an origin such as "
                    "https://app.example.com (scheme, host and port only) or *"
                )
        if not self.run_timeout > 0:
            raise ValueError(f"{env_name('run_timeout')} must be above 0, got {self.run_timeout}")

    @classmethod
    def load(cls, **given: Any) -> Settings:
        """Settings from explicit values, then `FORWARDPASS_*` variables, then defaults."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            if given.get(f.name) is not None:
                values[f.name] = given[f.name]
                continue
            raw = os.environ.get(env_name(f.name))
            if raw is None or raw == "":
                continue
            try:
                values[f.name] = _PARSERS[str(f.type)](raw)
            except ValueError:
                raise ValueError(f"{env_name(f.name)}={raw!r} is not a valid {f.type}") from None
        return cls(**values)

    def worker_count(self, usable_cores: int) -> int:
        """The workers `serve` starts: as set, or the default the help text describes."""
        if self.workers:
            return self.workers
        return usable_cores if self.redis_url else 1

    @property
    def cors_origin_list(self) -> list[str]:
        """The origins of `cors_origins`, each without a trailing slash (browsers send none)."""
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def registry_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'registry.sqlite3'}"

    @property
    def model_path(self) -> Path:
        return Path(self.model_dir) if self.model_dir else self.data_dir / "models"

    @property
    def on_postgres(self) -> bool:
        return self.registry_url.startswith(("postgresql", "postgres:"))

    @property
    def model_in_database(self) -> bool:
        """Whether model bytes live in the registry database (the `model_store` setting)."""
        return self.model_store == "database" or (self.model_store == "auto" and self.on_postgres)

    @property
    def model_cache_path(self) -> Path:
        return Path(self.model_cache_dir) if self.model_cache_dir else self.data_dir / "model-cache"

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()  # every address: the machine's name reaches one
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def forward_url(self, deployment_id: str) -> str:
        return f"{self.base_url}/deployment/{deployment_id}/forward"


def _bool(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


_PARSERS: dict[str, Any] = {"Path": Path, "str": str, "int": int, "float": float, "bool": _bool}


def env_name(name: str) -> str:
    return f"FORWARDPASS_{name.upper()}"


SETTINGS_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(Settings)}
