"""forwardpass at several commits, side by side in one run: did a change make it slower?

    .venv/bin/python bench/commits.py 6a0ac89,HEAD --points 1:64,100:1 --repeats 3
    .venv/bin/python bench/commits.py 2dde26a,HEAD --points 100:1,100:16 --api v2-binary

Each commit is checked out in a worktree of its own (under the temporary directory), gets
its own data directory with the demo model (written once, by this checkout) and one
deployment, and is served by `forwardpass serve` from that checkout, pinned to core 0.
Then wrk (pinned to core 1, as bench/run.py does) measures each point for every commit,
the commits interleaved (A B C, C B A, ...), and the medians are printed. Answers are
checked against raw ONNX Runtime first. The model is imported by each commit's own CLI, so
the commits must read the same model file format.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import run  # noqa: E402


def serve(sha: str, work: run.Workload, root: Path) -> tuple[subprocess.Popen[bytes], run.System]:
    tree = root / f"tree-{sha}"
    if not tree.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), sha],
            check=True,
            capture_output=True,
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORWARDPASS_")}
    env["PYTHONPATH"] = str(tree / "src")
    data, deployment, token = run.forwardpass_deployment(work, root / f"data-{sha}", env)
    env["FORWARDPASS_DATA_DIR"] = str(data)
    cli = [run.PYTHON, "-m", "forwardpass"]
    port = run.free_port()
    log = (root / f"{sha}.log").open("w")
    process = subprocess.Popen(
        run.pinned([*cli, "serve", "--port", str(port)]), env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    url = f"http://127.0.0.1:{port}/deployment/{deployment}/forward"
    system = run.System(
        sha,
        f"forwardpass at {sha}",
        url,
        f"Bearer {token}",
        encode=run.rows_body,
        decode=run.rows_answer,
    )
    return process, system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", help="commits, comma-separated (HEAD and short ids work)")
    parser.add_argument("--points", default="1:64,100:1", help="ROWS:CONNECTIONS, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument(
        "--api",
        choices=("rows", "v2-json", "v2-binary"),
        default="rows",
        help="the rows API, or the Open Inference Protocol with JSON or binary tensors",
    )
    args = parser.parse_args()
    commits = [
        subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", c],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for c in args.commits.split(",")
    ]
    points = [tuple(int(n) for n in p.split(":")) for p in args.points.split(",")]
    root = Path(tempfile.mkdtemp(prefix="forwardpass-commits-"))
    work = run.build_workload(root)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        systems = []
        for sha in commits:
            process, system = serve(sha, work, root)
            processes.append(process)
            if args.api != "rows":
                tensors = run.tensors_system(system, binary=args.api == "v2-binary")
                system = dataclasses.replace(tensors, key=sha, label=f"{system.label}, {args.api}")
            print(f"{sha}: {run.check(system, work)}", flush=True)
            systems.append(system)
        found: dict[tuple[str, int, int], list[run.Measure]] = {}
        for rows, conns in points:
            bodies = {}
            for system in systems:
                path = root / f"{system.key}-{rows}.body"
                bodies[system.key] = run.write_body(system, work.rows_for(rows), path)
                run.wrk(system, path, conns, 1)  # warm up
            for repeat in range(args.repeats):
                for system in systems if repeat % 2 == 0 else systems[::-1]:
                    m = run.wrk(system, bodies[system.key], conns, args.duration)
                    found.setdefault((system.key, rows, conns), []).append(m)
        print("| commit | rows | conns | requests/s | p50 ms | p99 ms |")
        print("|---|---:|---:|---:|---:|---:|")
        for (sha, rows, conns), measured in found.items():
            point = run.median_point(measured, rows)
            shown = f"{point.rps:,.0f} | {point.p50:.2f} | {point.p99:.2f}"
            print(f"| {sha} | {rows} | {conns} | {shown} |")
    finally:
        for process in processes:
            process.terminate()
        for sha in commits:
            subprocess.run(
                [
                    "git",
                    "-C",
                    str(ROOT),
                    "worktree",
                    "remove",
                    "--force",
                    str(root / f"tree-{sha}"),
                ],
                capture_output=True,
            )


if __name__ == "__main__":
    main()
