"""The red team's corpus (issue 15), kept as a regression set.

Every hostile request answers a 4xx (or a deliberate 503) in under 5 s, never a 500, and
the server stays healthy after it. They go over raw sockets: httpx refuses to send most of
them. One server for the module, with 2 s header and body timeouts so that the slow cases
end quickly too, and room for 400 connections.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from onnx import TensorProto, helper

from forwardpass.demos.tabular import EXAMPLE_ROWS
from tests.support import Server, cli_env, cli_json

TIMEOUT = 2  # the server's header and body timeouts, in seconds
MAX_CONNECTIONS = 400
ROW = json.dumps({"rows": EXAMPLE_ROWS[:1]}).encode()


def reshaping_model(path: Path) -> Path:
    """x [N,2] -> y [N/1.5, 3]: ONNX Runtime fails inside Reshape for one row."""
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["y"])],
        "reshaping",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
        initializer=[helper.make_tensor("shape", TensorProto.INT64, [2], [-1, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory, model_files: dict[str, Path]
) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("hostile")
    cli_json(data_dir, "model", "import", str(model_files["demo"]), "--name", "demo")
    cli_json(data_dir, "model", "import", str(reshaping_model(data_dir / "r.onnx")), "--name", "r")
    demo = cli_json(data_dir, "deployment", "create", "demo")
    failing = cli_json(data_dir, "deployment", "create", "r")
    env = cli_env(
        data_dir,
        FORWARDPASS_HEADER_TIMEOUT=str(TIMEOUT),
        FORWARDPASS_BODY_TIMEOUT=str(TIMEOUT),
        FORWARDPASS_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )
    server = Server(data_dir, env=env)
    yield {"server": server, "demo": demo, "failing": failing}
    server.stop()


# -- talking to it


class Answer:
    def __init__(self, raw: bytes, seconds: float) -> None:
        self.seconds = seconds
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines[0].startswith("HTTP/") else None
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }


def send(port: int, *parts: bytes, gap: float = 0.0) -> Answer:
    """Send `parts` (`gap` seconds apart) and read the first answer, or what comes before
    the server closes the connection."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for i, part in enumerate(parts):
            if i and gap:
                time.sleep(gap)
            try:
                sock.sendall(part)
            except OSError:
                break  # refused while still sending: the answer is waiting
        raw = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            raw += chunk
            _, found, body = raw.partition(b"\r\n\r\n")
            if found:
                length = Answer(raw, 0).headers.get("content-length")
                if length is not None and len(body) >= int(length):
                    break
    return Answer(raw, time.monotonic() - started)


def post(path: str, body: bytes, token: str, *extra: str, length: bool = True) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: test", f"Authorization: Bearer {token}"]
    head += ["Content-Type: application/json", *extra]
    if length:
        head.append(f"Content-Length: {len(body)}")
    return "\r\n".join([*head, "", ""]).encode() + body


def healthy(server: Server) -> bool:
    return httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200


# -- the corpus: name -> (the request's parts, given the forward path and token; statuses)

Case = tuple[Callable[[str, str], list[bytes]], set[int]]
GET = b"GET /healthz HTTP/1.1\r\nHost: test\r\n"
CHUNKED = "Transfer-Encoding: chunked"

CORPUS: dict[str, Case] = {
    "4 MB URL": (lambda p, t: [b"GET /" + b"a" * 4_000_000 + b" HTTP/1.1\r\n\r\n"], {414}),
    "9 KiB URL": (lambda p, t: [b"GET /?" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n"], {414}),
    "2 MB of headers": (
        lambda p, t: [GET + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(2000))],
        {431},
    ),
    "one 4 MB header": (lambda p, t: [GET + b"X-Big: " + b"v" * 4_000_000 + b"\r\n\r\n"], {431}),
    "long token": (lambda p, t: [post(p, ROW, "x" * 60_000)], {401}),
    "wrong token": (lambda p, t: [post(p, ROW, "wrong")], {401}),
    "no token": (lambda p, t: [post(p, ROW, "")], {401}),
    "Basic garbage": (
        lambda p, t: [post(p, ROW, t).replace(b"Bearer", b"Basic !!!")],
        {401},
    ),
    "chunk of 2^64-1": (
        lambda p, t: [
            post(p, b"ffffffffffffffff\r\n{", t, "Transfer-Encoding: chunked", length=False)
        ],
        {413},
    ),
    "chunk size overflow": (
        lambda p, t: [
            post(p, b"1" + b"0" * 16 + b"\r\n{", t, "Transfer-Encoding: chunked", length=False)
        ],
        {400},
    ),
    "chunk size not hex": (
        lambda p, t: [
            post(p, b"zz\r\n{}\r\n0\r\n\r\n", t, "Transfer-Encoding: chunked", length=False)
        ],
        {400},
    ),
    "huge Content-Length": (
        lambda p, t: [post(p, b"", t, "Content-Length: 99999999999999", length=False)],
        {413},
    ),
    "negative Content-Length": (
        lambda p, t: [post(p, ROW, t, "Content-Length: -1", length=False)],
        {400},
    ),
    "CL and TE (smuggling)": (
        lambda p, t: [
            post(p, b"0\r\n\r\nGET /x HTTP/1.1\r\n\r\n", t, "Transfer-Encoding: chunked")
        ],
        {400},
    ),
    "two Content-Lengths": (
        lambda p, t: [post(p, ROW, t, "Content-Length: 5")],
        {400},
    ),
    "TE not chunked": (
        lambda p, t: [post(p, ROW, t, "Transfer-Encoding: gzip", length=False)],
        {400},
    ),
    "TE obfuscated": (
        lambda p, t: [post(p, ROW, t, "Transfer-Encoding : chunked", length=False)],
        {400},
    ),
    "Upgrade, invalid JSON": (
        lambda p, t: [post(p, b"{", t, "Connection: Upgrade", "Upgrade: h2c")],
        {400},
    ),
    "invalid JSON": (lambda p, t: [post(p, b'{"rows": [', t)], {400}),
    "deep JSON": (lambda p, t: [post(p, b"[" * 100_000 + b"]" * 100_000, t)], {400}),
    "deep rows": (
        lambda p, t: [post(p, b'{"rows": ' + b"[" * 5000 + b"]" * 5000 + b"}", t)],
        {400},
    ),
    "empty body": (lambda p, t: [post(p, b"", t)], {400}),
    "not JSON content": (
        lambda p, t: [post(p, ROW, t).replace(b"application/json", b"text/html")],
        {415},
    ),
    "broken multipart": (
        lambda p, t: [
            post(p, b"--x\r\nContent-Disp", t).replace(
                b"application/json", b"multipart/form-data; boundary=x"
            )
        ],
        {400},
    ),
    "unknown method": (lambda p, t: [b"FOO / HTTP/1.1\r\nHost: test\r\n\r\n"], {400}),
    "DELETE a prediction": (
        lambda p, t: [post(p, ROW, t).replace(b"POST", b"DELETE", 1)],
        {405},
    ),
    "TRACE": (lambda p, t: [b"TRACE / HTTP/1.1\r\nHost: test\r\n\r\n"], {404, 405}),
    "CONNECT": (lambda p, t: [b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n"], {400}),
    "HTTP/2 preface": (lambda p, t: [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], {400, 404, 405}),
    "HTTP/0.9": (lambda p, t: [b"GET /healthz\r\n\r\n"], {200, 400}),  # llhttp takes it
    "HTTP/9.9": (lambda p, t: [b"GET /healthz HTTP/9.9\r\n\r\n"], {400, 505}),
    "header without colon": (lambda p, t: [GET + b"oops\r\n\r\n"], {400}),
    "NUL in the URL": (lambda p, t: [b"GET /heal\x00thz HTTP/1.1\r\n\r\n"], {400}),
    "NUL in a header": (lambda p, t: [GET + b"X-A: a\x00b\r\n\r\n"], {400}),
    "unknown id": (lambda p, t: [post("/deployment/nope/forward", ROW, t)], {404}),
    "8 KB unknown id": (
        lambda p, t: [post("/deployment/" + "z" * 8000 + "/forward", ROW, t)],
        {404},
    ),
    "escaped newline id": (lambda p, t: [post("/deployment/a%0Ab/forward", ROW, t)], {404}),
    "dot segments": (lambda p, t: [post("/deployment/../healthz/forward", ROW, t)], {404}),
    "escaped dots": (lambda p, t: [post("/deployment/%2e%2e/forward", ROW, t)], {404}),
    "absolute URL": (lambda p, t: [post("http://evil.example" + p, ROW, t)], {200, 404}),
    "bad escapes": (lambda p, t: [post("/deployment/%zz%/forward", ROW, t)], {400, 404}),
    "slow headers": (
        lambda p, t: [b"GET /healthz HTTP/1.1\r\n", b"X-A: 1\r\n"],
        {408},
    ),
    "slow body": (lambda p, t: [post(p, ROW, t)[:-10]], {408}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", CORPUS)
def test_a_hostile_request_is_refused_quickly_and_the_server_stays_healthy(hostile, name):
    server, d = hostile["server"], hostile["demo"]
    parts, statuses = CORPUS[name]
    path = f"/deployment/{d['id']}/forward"
    answer = send(server.port, *parts(path, d["token"]))
    assert answer.status in statuses, (answer.status, answer.body[:300])
    assert answer.seconds < 5
    # an error in the contract's shape, of a bounded size, and the server still answers
    if answer.status != 200:
        assert set(json.loads(answer.body)) == {"errorCode", "errorMessage"}
        assert len(answer.body) < 2000
    assert answer.headers.get("x-content-type-options") == "nosniff"
    assert healthy(server)


def test_a_slow_inference_body_is_refused_in_the_protocols_error_body(hostile):
    """The Open Inference Protocol's requests take the lane too: one whose body stalls gets
    the protocol's `{"error": ...}`, not the rows API's body."""
    server, d = hostile["server"], hostile["demo"]
    tensors = json.dumps(
        {"inputs": [{"name": "Size", "datatype": "FP32", "shape": [1, 1], "data": [1.0]}]}
    ).encode()
    answer = send(server.port, post(f"/v2/models/{d['id']}/infer", tensors, d["token"])[:-10])
    assert answer.status == 408, answer.body
    assert answer.seconds < 5
    assert list(json.loads(answer.body)) == ["error"]
    assert "too slowly" in json.loads(answer.body)["error"]
    assert healthy(server)


@pytest.mark.slow
def test_the_log_does_not_repeat_what_hostile_requests_sent(hostile):
    """After the corpus (huge URLs, headers, ids), no log line is long."""
    server = hostile["server"]
    send(server.port, post("/deployment/" + "q" * 8000 + "/forward", ROW, "t"))
    time.sleep(0.5)  # the log is written every 0.2 s
    lines = server.logs().splitlines()
    assert max(map(len, lines)) < 1000, max(lines, key=len)[:200]


def test_an_upgrade_header_keeps_the_body_of_a_prediction(hostile):
    server, d = hostile["server"], hostile["demo"]
    path = f"/deployment/{d['id']}/forward"
    expected = httpx.post(
        server.base + path,
        content=ROW,
        headers={"Authorization": f"Bearer {d['token']}", "Content-Type": "application/json"},
    ).json()
    for extra in (
        ["Connection: Upgrade", "Upgrade: h2c"],
        ["Connection: keep-alive, Upgrade", "Upgrade: websocket"],
    ):
        answer = send(server.port, post(path, ROW, d["token"], *extra))
        assert answer.status == 200, answer.body
        assert json.loads(answer.body) == expected
    # chunked, and a second request pipelined behind it on the same connection
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(ROW), ROW)
    first = post(path, chunked, d["token"], "Connection: Upgrade", "Upgrade: x", length=False)
    first = first.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n", 1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(first + GET + b"\r\n")
        time.sleep(0.5)
        raw = sock.recv(65536)
    assert raw.count(b"HTTP/1.1 200 OK") == 2, raw
    assert json.dumps(expected).replace(" ", "").encode() in raw
    assert b'{"status":"ok"}' in raw


def test_a_model_failure_does_not_show_onnx_runtime_internals(hostile):
    server, d = hostile["server"], hostile["failing"]
    r = httpx.post(
        server.url(d["id"]),
        json={"rows": [{"x": [1.0, 2.0]}]},
        headers={"Authorization": f"Bearer {d['token']}"},
    )
    assert r.status_code == 500
    message = r.json()["errorMessage"]
    assert "Reshape" not in message and "onnxruntime" not in message.lower(), message
    time.sleep(0.5)
    assert "Reshape" in server.logs()  # the operator still sees what failed


# -- slow clients


def closed(sock: socket.socket) -> bool:
    """True once the server has closed the connection (after any answer it sent)."""
    while True:
        ready, _, _ = select.select([sock], [], [], 0)
        if not ready:
            return False
        try:
            if not sock.recv(65536):
                return True
        except OSError:
            return True


@pytest.mark.slow
def test_slow_clients_do_not_take_the_server(hostile):
    """300 connections that send nothing, trickle headers or trickle a body, at once.

    Asserted (on a 2-core machine shared with other work): with the 300 held, /healthz
    and a prediction answer within 1 s each; all 300 are closed by the server within
    TIMEOUT + 2 = 4 s of opening; 420 connections at once leave at least 20 refused with
    503 (the cap is 400), and those held are closed after the header timeout.
    """
    server, d = hostile["server"], hostile["demo"]
    path = f"/deployment/{d['id']}/forward"
    addr = ("127.0.0.1", server.port)
    idle = [socket.create_connection(addr) for _ in range(200)]
    heads = [socket.create_connection(addr) for _ in range(50)]
    bodies = [socket.create_connection(addr) for _ in range(50)]
    for sock in bodies:
        sock.sendall(post(path, ROW, d["token"])[:-20])
    opened = time.monotonic()
    slowest = 0.0
    auth = {"Authorization": f"Bearer {d['token']}"}
    while time.monotonic() - opened < TIMEOUT + 2:
        for sock in heads:  # a byte of a header every 0.2 s: the head never ends
            if not closed(sock):
                with contextlib.suppress(OSError):
                    sock.send(b"X")
        started = time.monotonic()
        assert httpx.get(f"{server.base}/healthz", timeout=5).status_code == 200
        assert httpx.post(server.base + path, json={"rows": EXAMPLE_ROWS[:1]}, headers=auth)
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.2)
    assert slowest < 1.0
    held = [sock for sock in idle + heads + bodies if not closed(sock)]
    assert held == [], f"{len(held)} of 300 still open {TIMEOUT + 2} s after they opened"
    for sock in idle + heads + bodies:
        sock.close()

    # Past the cap, a new connection gets 503 at once; the rest are closed after the timeout.
    many = [socket.create_connection(addr) for _ in range(MAX_CONNECTIONS + 20)]
    time.sleep(0.5)
    refused = [sock for sock in many if closed(sock)]
    assert len(refused) >= 20
    probe = send(server.port, GET + b"\r\n")
    assert probe.status == 503 and probe.headers.get("retry-after") == "1"
    time.sleep(TIMEOUT + 1)
    assert all(closed(sock) for sock in many)
    for sock in many:
        sock.close()
    assert healthy(server)
