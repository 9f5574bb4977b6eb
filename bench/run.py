"""The benchmark: forwardpass next to raw ONNX Runtime, the HTTP floor, a minimal server and
MLServer, on the same model and rows, in one run.

    python bench/run.py                       # everything; writes bench/RESULTS.md
    python bench/run.py --duration 3 --repeats 1 --systems floor,minimal,forwardpass

Each server runs in its own process pinned to core 0 (`taskset -c 0`), wrk runs pinned to
core 1; "forwardpass, all cores" is not pinned. Every system's answers to the same rows are
checked against raw ONNX Runtime before anything is timed. Each (rows, connections) point is
measured `--repeats` times, systems interleaved (A B C A B C ...), and the medians reported:
on a shared machine one run against another says little.

MLServer runs in its own virtual environment (it pins an older FastAPI), created on first
use in ~/.cache/forwardpass-bench/mlserver (or --mlserver-venv) with pip from PyPI.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
SERVER_CORE = "0"
LOAD_CORE = "1"
ROW_COUNTS = (1, 100)
CONNECTIONS = (1, 16, 64)
MLSERVER_VENV = Path.home() / ".cache" / "forwardpass-bench" / "mlserver"


# ---------------------------------------------------------------- model, rows, bodies


# (name, Open Inference Protocol datatype) of each input feature, in the model's order: each
# is its own graph input [N, 1] (as minimal.py feeds them too), BYTES strings or FP32 numbers.
Inputs = tuple[tuple[str, str], ...]
TABULAR: Inputs = (("Type", "BYTES"), ("Sound", "BYTES"), ("Size", "FP32"))
WORKLOADS = ("tabular", "numeric")
WORKLOAD_NOTES = {  # for the report
    "tabular": "the demo model (forwardpass.demos.tabular), two categorical strings and a number",
    "numeric": "scikit-learn's diabetes data, StandardScaler and Ridge, ten float features",
}
_DATATYPES = {"tensor(string)": "BYTES", "tensor(float)": "FP32"}  # ONNX Runtime's input types


@dataclass
class Workload:
    dir: Path
    model: Path  # the forwardpass ONNX file; its stem names the model and the deployment
    pipeline: Path  # the same scikit-learn pipeline, joblib, for MLServer
    rows: list[dict[str, Any]]  # 100 rows; 1-row requests send the first
    expected: np.ndarray  # raw ONNX Runtime's answers for `rows`
    kind: str = "tabular"  # one of WORKLOADS
    inputs: Inputs = TABULAR  # read from the model's graph inputs
    output: str = "Weight"  # the deployment's output feature

    def rows_for(self, count: int) -> list[dict[str, Any]]:
        return self.rows[:count]


def build_workload(work: Path, kind: str = "tabular") -> Workload:
    """`tabular`: the demo model, two categorical strings and a number. `numeric`: ten float
    features (scikit-learn's bundled diabetes data, no download), what binary tensors are for.
    """
    import joblib
    import onnxruntime as ort

    from forwardpass.importers import sklearn as importer

    pipeline, sample, output, rows = _numeric() if kind == "numeric" else _tabular()
    model = work / f"{output.lower()}.onnx"
    model.write_bytes(importer.to_onnx(pipeline, sample, target=output).SerializeToString())
    joblib.dump(pipeline, work / "pipeline.joblib")
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for i in session.get_inputs():  # what columns() and the tensor encoders can send
        if i.type not in _DATATYPES or len(i.shape) != 2 or i.shape[1] != 1:
            raise ValueError(f"graph input {i.name}: {i.type} {i.shape} is not a [N, 1] column")
    inputs = tuple((i.name, _DATATYPES[i.type]) for i in session.get_inputs())
    expected = session.run(None, columns(rows, inputs))[0].ravel().astype(np.float64)
    return Workload(work, model, work / "pipeline.joblib", rows, expected, kind, inputs, output)


def _tabular() -> tuple[Any, Any, str, list[dict[str, Any]]]:
    from forwardpass.demos import tabular as demo

    pipeline, sample = demo.train()
    frame, _ = demo.training_data(rows=100, seed=1)
    rows = [
        {"Type": t, "Sound": s, "Size": round(float(z), 3)}
        for t, s, z in zip(frame["Type"], frame["Sound"], frame["Size"], strict=True)
    ]
    return pipeline, sample, "Weight", rows


def _numeric() -> tuple[Any, Any, str, list[dict[str, Any]]]:
    from sklearn.compose import make_column_transformer
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame, target = load_diabetes(return_X_y=True, as_frame=True)
    # Selected by name, each column is its own graph input, as in the tabular model; a plain
    # pipeline would take them as one [N, 10] input (the same API, one feed for ORT).
    scaler = make_column_transformer((StandardScaler(), list(frame.columns)))
    pipeline = make_pipeline(scaler, Ridge(alpha=1.0)).fit(frame, target)
    rows = frame.head(100).to_dict(orient="records")  # the data's own float64 values
    return pipeline, frame.head(20), "progression", rows


def columns(rows: list[dict[str, Any]], inputs: Inputs = TABULAR) -> dict[str, np.ndarray]:
    """The rows as ONNX Runtime's feeds: one [N, 1] column per input."""
    return {
        name: np.array(
            [[r[name]] for r in rows], dtype=object if datatype == "BYTES" else np.float32
        )
        for name, datatype in inputs
    }


# ---------------------------------------------------------------- raw ONNX Runtime


RAW_ORT = """
import json, sys, time
import numpy as np, onnxruntime as ort
sys.path.insert(0, {here!r})
from run import columns
rows = json.load(open({rows!r}))
inputs = {inputs!r}
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession({model!r}, options, providers=["CPUExecutionProvider"])
out = {{}}
for count in {counts!r}:
    feeds = columns(rows[:count], inputs)
    for _ in range(200):
        session.run(None, feeds)
    times = []
    end = time.perf_counter() + {seconds!r}
    while time.perf_counter() < end:
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    times.sort()
    out[count] = {{"rps": len(times) / sum(times), "p50": times[len(times) // 2] * 1000,
                  "p99": times[int(len(times) * 0.99)] * 1000, "max": times[-1] * 1000}}
print(json.dumps(out))
"""


def raw_ort(work: Workload, seconds: float) -> dict[int, dict[str, float]]:
    """Calls/s and latency of session.run alone, one thread, pinned like the servers."""
    rows_file = work.dir / "rows.json"
    rows_file.write_text(json.dumps(work.rows))
    script = RAW_ORT.format(
        here=str(HERE),
        rows=str(rows_file),
        model=str(work.model),
        inputs=work.inputs,
        counts=ROW_COUNTS,
        seconds=seconds,
    )
    done = subprocess.run(
        ["taskset", "-c", SERVER_CORE, PYTHON, "-c", script],
        capture_output=True,
        text=True,
        check=True,
    )
    return {int(k): v for k, v in json.loads(done.stdout).items()}


# ---------------------------------------------------------------- systems


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class System:
    key: str
    label: str
    url: str = ""
    auth: str = ""
    # rows -> (content type, body bytes); answer bytes -> predictions
    encode: Callable[[list[dict[str, Any]]], bytes] = field(default=lambda rows: b"")
    decode: Callable[[Any], list[float]] = field(default=lambda answer: [])
    tolerance: float = 1e-5
    checked: bool = True  # the floor answers a constant: nothing to check
    # rows -> request headers beyond Authorization and Content-Type (binary tensors' length)
    headers: Callable[[list[dict[str, Any]]], dict[str, str]] = field(default=lambda rows: {})
    binary: bool = False  # the answer is not JSON: `decode` gets the response itself


def rows_body(rows: list[dict[str, Any]]) -> bytes:
    import orjson

    return orjson.dumps({"rows": rows})


def rows_answer(answer: Any, output: str = "Weight") -> list[float]:
    return [float(r[output]) for r in answer["rows"]]


def v2_body(rows: list[dict[str, Any]], inputs: Inputs = TABULAR) -> bytes:
    """The same rows as an Open Inference Protocol (V2) request, decoded as a DataFrame."""
    import orjson

    n = len(rows)
    return orjson.dumps(
        {
            "parameters": {"content_type": "pd"},
            "inputs": [
                {
                    "name": name,
                    "shape": [n],
                    "datatype": datatype,
                    "data": [r[name] for r in rows],
                }
                for name, datatype in inputs
            ],
        }
    )


def v2_answer(answer: Any) -> list[float]:
    return [float(v) for v in answer["outputs"][0]["data"]]


def tensors_json(rows: list[dict[str, Any]], inputs: Inputs = TABULAR) -> bytes:
    """The rows as forwardpass's Open Inference Protocol inputs: JSON tensors [N, 1]."""
    import orjson

    n = len(rows)
    return orjson.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": [n, 1],
                    "data": [r[name] for r in rows],
                }
                for name, datatype in inputs
            ]
        }
    )


def _tensors_binary_parts(
    rows: list[dict[str, Any]], inputs: Inputs = TABULAR
) -> tuple[bytes, bytes]:
    """The JSON header and the raw tensors of a binary request (as tritonclient sends it)."""
    import struct

    import orjson

    n = len(rows)

    def raw(name: str, datatype: str) -> bytes:
        if datatype == "BYTES":  # each string after its length, 4 bytes little-endian
            values = (r[name].encode() for r in rows)
            return b"".join(struct.pack("<I", len(v)) + v for v in values)
        return np.array([r[name] for r in rows], dtype="<f4").tobytes()  # FP32, as columns()

    data = {name: raw(name, datatype) for name, datatype in inputs}
    header = orjson.dumps(
        {
            "inputs": [
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": [n, 1],
                    "parameters": {"binary_data_size": len(data[name])},
                }
                for name, datatype in inputs
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    return header, b"".join(data.values())


def tensors_binary(rows: list[dict[str, Any]], inputs: Inputs = TABULAR) -> bytes:
    header, raw = _tensors_binary_parts(rows, inputs)
    return header + raw


def tensors_binary_headers(rows: list[dict[str, Any]], inputs: Inputs = TABULAR) -> dict[str, str]:
    header, _ = _tensors_binary_parts(rows, inputs)
    return {
        "Inference-Header-Content-Length": str(len(header)),
        "Content-Type": "application/octet-stream",
    }


def tensors_binary_answer(answer: httpx.Response) -> list[float]:
    length = int(answer.headers["inference-header-content-length"])
    return np.frombuffer(answer.content[length:], dtype="<f4").astype(float).tolist()


def tensors_system(rows_api: System, binary: bool, inputs: Inputs = TABULAR) -> System:
    """The Open Inference Protocol of the same forwardpass server and deployment."""
    base, _, rest = rows_api.url.partition("/deployment/")
    deployment = rest.removesuffix("/forward")
    key = "forwardpass-v2-binary" if binary else "forwardpass-v2-json"
    return System(
        key,
        "forwardpass serve, one core, Open Inference Protocol, "
        + ("binary tensors" if binary else "JSON tensors"),
        f"{base}/v2/models/{deployment}/infer",
        rows_api.auth,
        encode=functools.partial(tensors_binary if binary else tensors_json, inputs=inputs),
        decode=tensors_binary_answer if binary else v2_answer,
        headers=(
            functools.partial(tensors_binary_headers, inputs=inputs)
            if binary
            else (lambda rows: {})
        ),
        binary=binary,
    )


class Processes:
    """Servers started by the harness; all stopped (by their own pid) when it ends."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its workers go with it when the group is stopped
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the server exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout}s:\n{log.read_text()[-3000:]}")


def pinned(args: list[str]) -> list[str]:
    return ["taskset", "-c", SERVER_CORE, *args]


def uvicorn_args(app: str, port: int) -> list[str]:
    return [
        PYTHON,
        "-m",
        "uvicorn",
        app,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--loop",
        "asyncio",
        "--http",
        "httptools",
        "--app-dir",
        str(HERE),
    ]


def start_constant(
    key: str, label: str, procs: Processes, command: Callable[[int], list[str]]
) -> System:
    """A floor: a server answering a constant (not checked), started by `command(port)`."""
    port = free_port()
    process = procs.start(key, pinned(command(port)))
    url = f"http://127.0.0.1:{port}/"
    wait_http(url, process, procs.logs / f"{key}.log")
    return System(key, label, url, encode=rows_body, decode=rows_answer, checked=False)


def start_floor(procs: Processes, work: Workload) -> System:
    return start_constant(
        "floor",
        "bare ASGI, constant answer (HTTP floor)",
        procs,
        lambda port: uvicorn_args("floor:app", port),
    )


def start_protocol_floor(procs: Processes, work: Workload) -> System:
    return start_constant(
        "protocol-floor",
        "asyncio protocol on httptools, constant answer (HTTP floor below ASGI)",
        procs,
        lambda port: [PYTHON, str(HERE / "protocol_floor.py"), str(port)],
    )


def start_minimal(procs: Processes, work: Workload) -> System:
    port = free_port()
    env = {**os.environ, "BENCH_MODEL": str(work.model), "BENCH_OUTPUT": work.output}
    process = procs.start("minimal", pinned(uvicorn_args("minimal:app", port)), env=env)
    url = f"http://127.0.0.1:{port}/"
    wait_for_post(url, process, procs.logs / "minimal.log")
    return System(
        "minimal",
        "hand-written minimal server (bench/minimal.py)",
        url,
        encode=rows_body,
        decode=functools.partial(rows_answer, output=work.output),
    )


def wait_for_post(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()[-3000:]}")
        try:
            httpx.post(url, content=b'{"rows": []}', timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


def forwardpass_deployment(
    work: Workload, data: Path | None = None, env: dict[str, str] | None = None
) -> tuple[Path, str, str]:
    """A data directory holding the model and one deployment: (dir, id, token); `env`
    (default: this process's) runs the CLI, for another checkout's."""
    data = data or work.dir / "forwardpass-data"
    env = {**(env or os.environ), "FORWARDPASS_DATA_DIR": str(data)}
    cli = [PYTHON, "-m", "forwardpass"]
    name = work.model.stem  # "weight" for the tabular workload
    subprocess.run(
        [*cli, "model", "import", str(work.model), "--name", name, "--json"],
        env=env,
        check=True,
        capture_output=True,
    )
    created = subprocess.run(
        [*cli, "deployment", "create", name, "--json"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(created.stdout)
    return data, info["id"], info["token"]


def start_forwardpass(
    procs: Processes,
    made: tuple[Path, str, str],
    *,
    all_cores: bool,
    workers: int | None,
    lane: bool = True,
    output: str = "Weight",  # the deployment's output feature
) -> System:
    data, deployment, token = made
    port = free_port()
    key = "forwardpass-all" if all_cores else ("forwardpass" if lane else "forwardpass-nolane")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORWARDPASS_")}
    env["FORWARDPASS_DATA_DIR"] = str(data)  # default settings otherwise: as users run it
    if not lane:
        env["FORWARDPASS_LANE"] = "false"  # predictions through the ASGI app
    args = [PYTHON, "-m", "forwardpass", "serve", "--port", str(port)]
    if workers is not None:
        args += ["--workers", str(workers)]
    process = procs.start(key, args if all_cores else pinned(args), env=env)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/readyz", process, procs.logs / f"{key}.log")
    label = (
        f"forwardpass, all cores ({workers or 'default'} workers, unpinned)"
        if all_cores
        else "forwardpass serve, one core" + ("" if lane else ", lane off")
    )
    return System(
        key,
        label,
        f"{base}/deployment/{deployment}/forward",
        f"Bearer {token}",
        encode=rows_body,
        decode=functools.partial(rows_answer, output=output),
    )


MODEL_SETTINGS = {
    "name": "weight",
    "implementation": "mlserver_sklearn.SKLearnModel",
    "parameters": {"uri": "./pipeline.joblib", "version": "v1"},
}


def mlserver_venv(venv: Path) -> Path:
    """MLServer 1.7 and mlserver-sklearn with this scikit-learn, in a venv of their own."""
    import sklearn

    mlserver = venv / "bin" / "mlserver"
    if not mlserver.exists():
        print(f"creating {venv} for MLServer (pip, a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(venv / "bin" / "pip"),
                "install",
                "-q",
                "mlserver==1.7.*",
                "mlserver-sklearn==1.7.*",
                f"scikit-learn=={sklearn.__version__}",
                # uvloop 0.22 raises in get_event_loop(), which MLServer 1.7's workers call
                "uvloop<0.22",
            ],
            check=True,
        )
    return mlserver


def start_mlserver(procs: Processes, work: Workload, venv: Path) -> System:
    mlserver = mlserver_venv(venv)
    root = work.dir / "mlserver"
    model_dir = root / "weight"
    model_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(work.pipeline, model_dir / "pipeline.joblib")
    (model_dir / "model-settings.json").write_text(json.dumps(MODEL_SETTINGS))
    port = free_port()
    (root / "settings.json").write_text(
        json.dumps(
            {
                "http_port": port,
                "grpc_port": free_port(),
                "metrics_port": free_port(),
                "debug": False,
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    process = procs.start(
        "mlserver", pinned([str(mlserver), "start", str(root)]), env=env, cwd=root
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/v2/models/weight/ready", process, procs.logs / "mlserver.log", 300)
    # ready answers before the model is loaded on some versions: wait for a 200 there
    deadline = time.monotonic() + 120
    while httpx.get(f"{base}/v2/models/weight/ready").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("MLServer's model never became ready")
        time.sleep(0.5)
    return System(
        "mlserver",
        "MLServer 1.7 + mlserver-sklearn (the sklearn pipeline)",
        f"{base}/v2/models/weight/infer",
        encode=v2_body,
        decode=v2_answer,
        tolerance=1e-3,
    )


# ---------------------------------------------------------------- correctness


def check(system: System, work: Workload) -> str:
    """Every system answers the same rows as raw ONNX Runtime, before anything is timed."""
    if not system.checked:
        return "constant answer (not a model)"
    worst = 0.0
    for count in ROW_COUNTS:
        rows = work.rows_for(count)
        headers = {"Content-Type": "application/json", **system.headers(rows)}
        if system.auth:
            headers["Authorization"] = system.auth
        answer = httpx.post(system.url, content=system.encode(rows), headers=headers, timeout=30)
        if answer.status_code != 200:
            raise AssertionError(f"{system.key}: HTTP {answer.status_code}: {answer.text[:300]}")
        got = np.array(system.decode(answer if system.binary else answer.json()))
        want = work.expected[:count]
        if got.shape != want.shape:
            raise AssertionError(f"{system.key}: {got.shape} answers for {want.shape} rows")
        diff = float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-9)))
        if diff > system.tolerance:
            raise AssertionError(f"{system.key}: answers differ from ONNX Runtime by {diff:.2e}")
        worst = max(worst, diff)
    return f"same answers as ONNX Runtime (max relative difference {worst:.1e})"


# ---------------------------------------------------------------- wrk


@dataclass
class Measure:
    rps: float
    p50: float  # ms
    p99: float
    max: float
    errors: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)([a-z]+)", text)
    if found is None:  # wrk prints -nan when no request completed
        return float("nan")
    return float(found.group(1)) * _UNITS[found.group(2)]


def write_body(system: System, rows: list[dict[str, Any]], path: Path) -> Path:
    """The system's request body for `rows` at `path`, for post.lua, and beside it the
    headers it needs beyond Authorization and Content-Type (`path` with `.headers`)."""
    path.write_bytes(system.encode(rows))
    extra = system.headers(rows)
    if extra:
        lines = "".join(f"{name}: {value}\n" for name, value in extra.items())
        path.with_suffix(".headers").write_text(lines)
    return path


def wrk(
    system: System, body: Path, connections: int, seconds: float, script: str = "post.lua"
) -> Measure:
    env = {**os.environ, "BENCH_BODY": str(body), "BENCH_AUTH": system.auth}
    done = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CORE,
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "--latency",
            "-s",
            str(HERE / script),
            system.url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    if "requests in" in out and re.search(r"\b0 requests in", out):
        return Measure(0.0, float("nan"), float("nan"), float("nan"), 0)
    latency = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (latency and p50 and p99 and rps):
        raise RuntimeError(f"unreadable wrk output:\n{out}\n{done.stderr}")
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses:\s+(\d+)", r"Socket errors:.*?timeout (\d+)"):
        found = re.search(pattern, out)
        if found:
            errors += int(found.group(1))
    return Measure(
        float(rps.group(1)), _ms(p50.group(1)), _ms(p99.group(1)), _ms(latency.group(3)), errors
    )


# ---------------------------------------------------------------- the run


@dataclass
class Point:
    rps: float
    rows_s: float
    p50: float
    p99: float
    max: float
    errors: int
    runs: int


def median_point(runs: list[Measure], rows: int) -> Point:
    rps = statistics.median(m.rps for m in runs)
    return Point(
        rps,
        rps * rows,
        statistics.median(m.p50 for m in runs),
        statistics.median(m.p99 for m in runs),
        max(m.max for m in runs),
        sum(m.errors for m in runs),
        len(runs),
    )


def machine() -> dict[str, str]:
    import onnxruntime

    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "kernel": platform.release(),
        "load average at start": " ".join(load),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
    }


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="forwardpass-bench-"))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


ALL = (
    "floor",
    "protocol-floor",
    "minimal",
    "forwardpass",
    "forwardpass-v2-json",
    "forwardpass-v2-binary",
    "forwardpass-nolane",
    "forwardpass-all",
    "mlserver",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5, help="seconds per wrk run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per point")
    parser.add_argument("--systems", default=",".join(ALL), help=f"some of {','.join(ALL)}")
    parser.add_argument(
        "--workers",
        type=int,
        default=len(os.sched_getaffinity(0)),
        # Not the server's own default: without Redis that is one worker (README).
        help="--workers for 'forwardpass, all cores' (default: one per usable core)",
    )
    parser.add_argument("--mlserver-venv", type=Path, default=MLSERVER_VENV)
    parser.add_argument(
        "--workload",
        choices=WORKLOADS,
        default="tabular",
        help="tabular: the demo model (strings and a number); numeric: ten float features",
    )
    parser.add_argument(
        "--out", type=Path, help="default bench/RESULTS.md, bench/RESULTS-numeric.md for numeric"
    )
    parser.add_argument(
        "--url",
        help="also measure this running deployment of the demo model (e.g. from "
        "`forwardpass demo`), as the system 'running'; it is neither started nor pinned",
    )
    parser.add_argument("--token", default="", help="the token of --url")
    parser.add_argument("--rows", default="1,100", help="rows a request, comma-separated")
    parser.add_argument("--connections", default="1,16,64", help="wrk connections")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.out is None:  # a numeric run does not overwrite the tabular results
        args.out = HERE / ("RESULTS.md" if args.workload == "tabular" else "RESULTS-numeric.md")
    # A plain `kill` should stop the servers too: turn SIGTERM into an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    wanted = [s for s in args.systems.split(",") if s]
    global ROW_COUNTS, CONNECTIONS
    ROW_COUNTS = tuple(int(n) for n in args.rows.split(","))
    CONNECTIONS = tuple(int(n) for n in args.connections.split(","))
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")

    with workdir(args.keep) as work_dir, ExitStack() as stack:
        info = machine()
        print(f"work directory {work_dir}", flush=True)
        work = build_workload(work_dir, args.workload)
        print(f"workload {work.kind}: inputs {work.inputs}, output {work.output}", flush=True)
        procs = Processes(work_dir)
        stack.callback(procs.stop_all)
        raw = raw_ort(work, seconds=max(2.0, args.duration))
        print(f"raw ONNX Runtime: {raw}", flush=True)

        made = functools.cache(lambda: forwardpass_deployment(work))
        # The rows API and the Open Inference Protocol of one server: the same process.
        one_core = functools.cache(
            lambda: start_forwardpass(
                procs, made(), all_cores=False, workers=None, output=work.output
            )
        )
        starters: dict[str, Callable[[], System]] = {
            "floor": lambda: start_floor(procs, work),
            "protocol-floor": lambda: start_protocol_floor(procs, work),
            "minimal": lambda: start_minimal(procs, work),
            "forwardpass": one_core,
            "forwardpass-v2-json": lambda: tensors_system(one_core(), False, work.inputs),
            "forwardpass-v2-binary": lambda: tensors_system(one_core(), True, work.inputs),
            "forwardpass-nolane": lambda: start_forwardpass(
                procs, made(), all_cores=False, workers=None, lane=False, output=work.output
            ),
            "forwardpass-all": lambda: start_forwardpass(
                procs, made(), all_cores=True, workers=args.workers, output=work.output
            ),
            "mlserver": lambda: start_mlserver(procs, work, args.mlserver_venv),
            "running": lambda: System(
                "running",
                f"the running deployment at {args.url}",
                args.url,
                f"Bearer {args.token}",
                encode=rows_body,
                decode=rows_answer,
            ),
        }
        if args.url:
            wanted.append("running")
        # MLServer's model settings and a running deployment (of the demo model) are the
        # tabular workload's; MLServer on the numeric one has not been checked.
        refused = {
            "mlserver": "MLServer is set up for the tabular workload only",
            "running": "--url is taken to be a deployment of the demo model",
        }
        systems: list[System] = []
        notes: dict[str, str] = {}
        for key in wanted:
            if work.kind != "tabular" and key in refused:
                notes[key] = f"not measured on the {work.kind} workload: {refused[key]}"
                print(f"{key}: {notes[key]}", flush=True)
                continue
            try:
                system = starters[key]()
                notes[key] = check(system, work)
                systems.append(system)
            except Exception as exc:  # a system that fails is reported missing, not fatal
                notes[key] = f"MISSING: {type(exc).__name__}: {str(exc)[:400]}"
            print(f"{key}: {notes[key]}", flush=True)

        bodies = {}
        for count in ROW_COUNTS:
            for system in systems:
                path = work_dir / f"{system.key}-{count}.body"
                bodies[system.key, count] = write_body(system, work.rows_for(count), path)

        results: dict[tuple[str, int, int], list[Measure]] = {}
        for count in ROW_COUNTS:
            for conns in CONNECTIONS:
                for system in systems:  # warm up: caches, batch sizes, JITs
                    wrk(system, bodies[system.key, count], conns, 1)
                for repeat in range(args.repeats):
                    order = systems if repeat % 2 == 0 else systems[::-1]
                    for system in order:
                        m = wrk(system, bodies[system.key, count], conns, args.duration)
                        results.setdefault((system.key, count, conns), []).append(m)
                        print(
                            f"{count:>3} rows {conns:>2} conns {system.key:<16} "
                            f"{m.rps:>9.0f} req/s p50 {m.p50:.2f} ms p99 {m.p99:.2f} ms "
                            f"max {m.max:.1f} ms errors {m.errors}",
                            flush=True,
                        )
        points = {k: median_point(v, k[1]) for k, v in results.items()}
        report = render(info, work, raw, systems, notes, points, args, wanted)
        kept = ""
        if args.out.exists():  # hand-written notes survive a rerun
            old = args.out.read_text()
            if "\n## Notes" in old:
                kept = old[old.index("\n## Notes") :]
        args.out.write_text(report + kept)
        print(f"wrote {args.out}")


def render(
    info: dict[str, str],
    work: Workload,
    raw: dict[int, dict[str, float]],
    systems: list[System],
    notes: dict[str, str],
    points: dict[tuple[str, int, int], Point],
    args: argparse.Namespace,
    wanted: list[str],
) -> str:
    command = " ".join(["python bench/run.py", *sys.argv[1:]])
    lines = [
        "# Benchmark results",
        "",
        "Written by `bench/run.py` (see bench/README.md); the notes written by hand are at",
        "the end. Command:",
        "",
        f"    {command}",
        "",
        f"Workload `{work.kind}`: {WORKLOAD_NOTES[work.kind]}; inputs "
        + ", ".join(f"{name} {datatype}" for name, datatype in work.inputs)
        + f", output {work.output}.",
        "",
        f"{args.repeats} interleaved runs of {args.duration:g} s per point (after a 1 s warm-up"
        " per system), medians of requests/s, p50 and p99; max is the largest over the runs.",
        "Servers pinned to core 0, wrk (one thread) pinned to core 1; 'all cores' is unpinned.",
        "The machine is shared with other agents running test suites while this ran, so",
        "absolute figures move between runs; compare systems inside one run.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "## Systems and their answers",
        "",
        *[f"- `{k}`: {notes.get(k, '')}" for k in wanted],
        "",
        "## Raw ONNX Runtime (session.run only, one thread, pinned to core 0)",
        "",
        "| rows a call | calls/s | rows/s | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|---:|",
        *[
            f"| {c} | {r['rps']:,.0f} | {r['rps'] * c:,.0f} | {r['p50']:.3f} | {r['p99']:.3f} |"
            for c, r in raw.items()
        ],
        "",
        "## Over HTTP (wrk)",
        "",
        "| system | rows | conns | requests/s | rows/s | p50 ms | p99 ms | max ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count in ROW_COUNTS:
        for conns in CONNECTIONS:
            for system in systems:
                p = points.get((system.key, count, conns))
                if p is None:
                    continue
                lines.append(
                    f"| {system.key} | {count} | {conns} | {p.rps:,.0f} | {p.rows_s:,.0f} | "
                    f"{p.p50:.2f} | {p.p99:.2f} | {p.max:.1f} | {p.errors} |"
                )
    lines += ["", "## Ratios against the issue's targets", ""]
    lines += ratios(points)
    lines.append("")
    return "\n".join(lines)


def ratios(points: dict[tuple[str, int, int], Point]) -> list[str]:
    def get(key: str, rows: int, conns: int) -> Point | None:
        return points.get((key, rows, conns))

    out = ["| target | measured | met |", "|---|---:|---|"]

    def row(target: str, value: float | None, ok: bool | None) -> None:
        shown = "n/a" if value is None else f"{value:.2f}"
        out.append(f"| {target} | {shown} | {'n/a' if ok is None else ('yes' if ok else 'no')} |")

    fp, mini = get("forwardpass", 1, 64), get("minimal", 1, 64)
    v = fp.rps / mini.rps if fp and mini else None
    row(
        "1 row, 64 conns: forwardpass req/s / minimal's (>= 1.5)",
        v,
        None if v is None else v >= 1.5,
    )
    v = fp.p99 / mini.p99 if fp and mini else None
    row("1 row, 64 conns: forwardpass p99 / minimal's (<= 1.0)", v, None if v is None else v <= 1.0)
    fp1, mini1 = get("forwardpass", 1, 1), get("minimal", 1, 1)
    v = fp1.p50 / mini1.p50 if fp1 and mini1 else None
    row("1 row, 1 conn: forwardpass p50 / minimal's (<= 1.3)", v, None if v is None else v <= 1.3)
    # The table gives a server's throughput as its best over the connection counts.
    best = {
        key: max((p.rows_s for c in CONNECTIONS if (p := get(key, 100, c))), default=None)
        for key in ("forwardpass", "minimal")
    }
    a_best, b_best = best["forwardpass"], best["minimal"]
    v = a_best / b_best if a_best and b_best else None
    row(
        "100 rows, best of the connection counts: forwardpass rows/s / minimal's (>= 0.9)",
        v,
        None if v is None else v >= 0.9,
    )
    for conns in CONNECTIONS:
        a, b = get("forwardpass", 100, conns), get("minimal", 100, conns)
        v = a.rows_s / b.rows_s if a and b else None
        row(
            f"100 rows, {conns} conns: forwardpass rows/s / minimal's (>= 0.9)",
            v,
            None if v is None else v >= 0.9,
        )
    for rows in ROW_COUNTS:
        for conns in CONNECTIONS:
            a, b = get("forwardpass", rows, conns), get("forwardpass-nolane", rows, conns)
            v = a.rps / b.rps if a and b else None
            row(f"{rows} rows, {conns} conns: the lane's req/s / without it (keep if > 1)", v, None)
    for rows in ROW_COUNTS:
        a, b = get("forwardpass-all", rows, 64), get("forwardpass", rows, 64)
        v = a.rps / b.rps if a and b else None
        row(f"{rows} rows, 64 conns: all cores / one core (linear: nproc)", v, None)
    for key in ("forwardpass", "forwardpass-all"):
        for rows in ROW_COUNTS:
            p = get(key, rows, 64)
            v = p.p99 / p.p50 if p else None
            row(f"{key}, {rows} rows, 64 conns: p99 / p50 (<= 3)", v, None if v is None else v <= 3)
    for rows in ROW_COUNTS:
        for conns in CONNECTIONS:
            a, b = get("forwardpass", rows, conns), get("mlserver", rows, conns)
            v = a.rps / b.rps if a and b else None
            row(
                f"{rows} rows, {conns} conns: forwardpass req/s / MLServer's (> 1)",
                v,
                None if v is None else v > 1,
            )
    return out


if __name__ == "__main__":
    main()
