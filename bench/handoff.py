"""What handing a 1-row model call to another thread costs, against making it inline.

    python bench/handoff.py

The speed issue asks that ONNX Runtime run outside the event loop, and that a 1-row
request at one connection stay within 1.3 times the minimal server's p50, which runs the
model on the event loop. This measures the hand-over alone: the benchmark's model called
for one row from an asyncio event loop, pinned to one core like the servers in
bench/run.py, one call after another with a pass of the loop in between, in three ways:

- `inline`: on the event loop itself (the minimal server);
- `thread`: a model thread woken through a `threading.Condition`, answering through
  `loop.call_soon_threadsafe` (forwardpass's batcher, without its batching);
- `run_async`: ONNX Runtime's own `InferenceSession.run_async`, which runs the call on its
  intra-op pool (two threads, spinning off) and calls back from there.

Each mode runs in a process of its own; prints the p50 and mean of each, in microseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

MODES = ("inline", "thread", "run_async")


def measure(model: Path, mode: str, calls: int) -> list[float]:
    """Seconds per call, from the loop's side: from the call to its answer on the loop."""
    import onnxruntime as ort

    import run as bench

    options = ort.SessionOptions()
    options.inter_op_num_threads = 1
    # run_async needs a pool thread besides the caller; spinning would take the one core.
    options.intra_op_num_threads = 2 if mode == "run_async" else 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feeds = bench.columns(json.loads((model.parent / "row.json").read_text()))
    names = [o.name for o in session.get_outputs()]

    async def calls_from_the_loop() -> list[float]:
        loop = asyncio.get_running_loop()
        waiting: list[asyncio.Future[Any]] = []
        wake = threading.Condition()

        def model_thread() -> None:
            while True:
                with wake:
                    while not waiting:
                        wake.wait()
                    future = waiting.pop()
                outputs = session.run(names, feeds)
                loop.call_soon_threadsafe(future.set_result, outputs)

        if mode == "thread":
            threading.Thread(target=model_thread, daemon=True).start()
        seconds = []
        for _ in range(calls):
            started = time.perf_counter()
            if mode == "inline":
                session.run(names, feeds)
            else:
                future = loop.create_future()
                if mode == "thread":
                    with wake:
                        waiting.append(future)
                        wake.notify()
                else:

                    def answered(outputs: Any, _data: Any, _error: str, f: Any = future) -> None:
                        loop.call_soon_threadsafe(f.set_result, outputs)

                    session.run_async(names, feeds, answered, None)
                await future
            seconds.append(time.perf_counter() - started)
            await asyncio.sleep(0)  # a pass of the loop between two requests
        return seconds[calls // 5 :]  # the first fifth warms up

    return asyncio.run(calls_from_the_loop())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode, interleaved")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one child process
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        os.sched_setaffinity(0, {0})
        seconds = measure(args.model, args.mode, args.calls)
        print(f"{statistics.median(seconds) * 1e6:.1f} {statistics.mean(seconds) * 1e6:.1f}")
        sys.stdout.flush()
        # ONNX Runtime's pool can abort the interpreter's teardown after run_async.
        os._exit(0)
    with tempfile.TemporaryDirectory(prefix="forwardpass-handoff-") as work:
        import run as bench

        workload = bench.build_workload(Path(work))
        (Path(work) / "row.json").write_text(json.dumps(workload.rows_for(1)))
        model = workload.model
        print(f"{'mode':<10} {'p50 us':>8} {'mean us':>8}")
        child = [sys.executable, __file__, "--model", str(model), "--calls", str(args.calls)]
        for _ in range(args.rounds):
            for mode in MODES:
                done = subprocess.run(
                    [*child, "--mode", mode],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                p50, mean = done.stdout.split()
                print(f"{mode:<10} {p50:>8} {mean:>8}")


if __name__ == "__main__":
    main()
