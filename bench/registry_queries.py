"""What one idle serving node costs the registry database: transactions a second.

    python bench/registry_queries.py [--seconds 20]

Starts `forwardpass serve` on a fresh PostgreSQL database (FORWARDPASS_TEST_POSTGRES_URL or
the local server), lets it settle, and reads PostgreSQL's own count of the database's
transactions (pg_stat_database: commits and rollbacks) over the window. Multiply by the
number of nodes (and workers per node) for a cluster's cost. The README quotes the figure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

import httpx
import sqlalchemy as sa

BASE = os.environ.get(
    "FORWARDPASS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def transactions(admin: sa.Engine, name: str) -> int:
    with admin.connect() as connection:
        connection.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return int(
            connection.execute(
                sa.text(
                    "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :n"
                ),
                {"n": name},
            ).scalar_one()
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    admin = sa.create_engine(
        BASE.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    name = f"fp_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    port = 18000 + os.getpid() % 1000
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORWARDPASS_")}
    env.update(
        FORWARDPASS_DATABASE_URL=f"{BASE.rsplit('/', 1)[0]}/{name}",
        FORWARDPASS_DATA_DIR=tempfile.mkdtemp(),
        FORWARDPASS_ADMIN_TOKEN="bench-admin-token-0123456789",
        FORWARDPASS_WORKERS="1",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "forwardpass", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        time.sleep(3)  # settled: stats of the start flushed
        first = transactions(admin, name)
        time.sleep(args.seconds)
        last = transactions(admin, name)
        per_second = (last - first) / args.seconds
        print(
            f"one idle node: {per_second:.2f} transactions/s; 100 nodes: {per_second * 100:.0f}/s"
        )
    finally:
        server.terminate()
        server.wait()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
