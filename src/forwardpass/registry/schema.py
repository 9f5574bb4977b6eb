"""The registry's tables. Alembic migrations in `migrations/` create and evolve them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# The largest values an Integer and a BigInteger column hold on every database we support.
MAX_INTEGER = 2**31 - 1
MAX_BIG_INTEGER = 2**63 - 1

models = Table(
    "models",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("signature", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("name", "version", name="uq_models_name_version"),
)

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("model_id", Integer, ForeignKey("models.id"), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("enabled", Boolean, nullable=False),
    # {"inputs": {feature: api name}, "outputs": {...}}: names the API uses, where they differ.
    Column("api_names", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deployed_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # Bumped on every change, so that serving processes reload only what changed.
    Column("revision", Integer, nullable=False),
    # The deployment's own limits; NULL means the plan's default (migration 0002).
    Column("max_body_bytes", BigInteger, nullable=True),
    Column("max_rows", Integer, nullable=True),
    Column("rate", Float, nullable=True),
    Column("burst", Integer, nullable=True),
    Column("run_timeout", Float, nullable=True),  # seconds (migration 0006)
    # How image inputs are fitted to the model's size; NULL: the model's own default.
    Column("image_transformation", String(40), nullable=True),
)

# Usage counts per deployment and metric ("requests", "rows", "error:<errorCode>", ...),
# added to by every serving process periodically.
deployment_usage = Table(
    "deployment_usage",
    metadata,
    Column(
        "deployment_id",
        String(36),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("metric", String(100), primary_key=True),
    Column("count", BigInteger, nullable=False),
)

# Usage over time (migration 0008): one row per deployment, bucket size (`step`, 60 s or
# 3600 s) and bucket start (Unix seconds, a multiple of the step). Old buckets are pruned
# as new ones are added (registry/usage.py says how long each size is kept).
usage_buckets = Table(
    "usage_buckets",
    metadata,
    Column(
        "deployment_id",
        String(36),
        ForeignKey("deployments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("step", Integer, primary_key=True),
    Column("start", BigInteger, primary_key=True),
    Column("requests", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("errors", BigInteger, nullable=False),
    Column("seconds", Float, nullable=False),  # the requests' latencies, summed
    Index("usage_buckets_age", "step", "start"),
)

# One row; its generation grows with every change to a deployment, so a serving process
# learns that something changed from one cheap query.
registry_state = Table(
    "registry_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", BigInteger, nullable=False),
    # The base URL the newest `serve` started with: the CLI prints deployment URLs with it.
    Column("served_url", String(2000), nullable=True),
)

# One row: the admin credential (salted, slow hash) and the key that signs page sessions.
admin = Table(
    "admin",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(200), nullable=False),
    Column("session_key", String(100), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# The database model store (migration 0007): a model's bytes, whole once its row is there.
model_blobs = Table(
    "model_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

model_chunks = Table(
    "model_chunks",
    metadata,
    Column(
        "sha256",
        String(64),
        ForeignKey("model_blobs.sha256", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
