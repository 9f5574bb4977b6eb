"""The HTTP protocol's fast lane for predictions (server/lane.py), over raw sockets.

The other tests reach the lane through httpx; these send what a client library rarely
does (pipelined requests, Expect: 100-continue, HTTP/1.0, a body cut short, an answer
before the body is sent) and check that the lane behaves as the ASGI route, which takes
a prediction pipelined behind another request on the same connection.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from forwardpass.demos.tabular import EXAMPLE_ROWS
from tests.server.raw_http import connect
from tests.support import wait_for


def request(d: dict[str, Any], body: bytes, *, token: str | None = None, extra: str = "") -> bytes:
    path = urlsplit(d["url"]).path
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token or d['token']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def rows_body(*rows: dict[str, Any]) -> bytes:
    return orjson.dumps({"rows": list(rows)})


def alone(d: dict[str, Any], row: dict[str, Any]) -> bytes:
    answer = httpx.post(d["url"], content=rows_body(row), headers=auth_json(d))
    assert answer.status_code == 200
    return answer.content


def auth_json(d: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {d['token']}", "Content-Type": "application/json"}


def test_pipelined_requests_are_answered_in_order(served):
    d = served["demo"]
    health = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    first, second, third = EXAMPLE_ROWS[:3]
    sock, reader = connect(d)
    with sock:
        # One write: the first prediction takes the lane, the rest queue behind it.
        sock.sendall(
            request(d, rows_body(first))
            + health
            + request(d, rows_body(second))
            + request(d, rows_body(third))
        )
        answers = [reader.answer() for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 200]
    assert orjson.loads(answers[1][2]) == {"status": "ok"}
    assert [answers[0][2], answers[2][2], answers[3][2]] == [
        alone(d, first),
        alone(d, second),
        alone(d, third),
    ]


def test_the_lane_and_the_asgi_route_answer_alike(served):
    """The same requests, first on the lane, then pipelined so that the ASGI route takes
    them: the same status, body and headers (but for the date and the timings)."""
    d = served["demo"]
    cases = [
        request(d, rows_body(EXAMPLE_ROWS[0])),
        request(d, b'{"rows": [{"Type": "animal"'),  # JsonParsingError
        request(d, rows_body({"Type": "plant", "Sound": "x", "Size": 1.0})),  # BadData
        request(d, rows_body(EXAMPLE_ROWS[0]), token="wrong"),  # InvalidTokenError
    ]
    for case in cases:
        sock, reader = connect(d)
        with sock:
            sock.sendall(case + case)  # the second waits behind the first: the ASGI route
            lane, asgi = reader.answer(), reader.answer()
        assert lane[0] == asgi[0] and lane[2] == asgi[2], (lane, asgi)
        varying = {"date", "server-timing"}
        assert {k: v for k, v in lane[1].items() if k not in varying} == {
            k: v for k, v in asgi[1].items() if k not in varying
        }
        assert ("server-timing" in lane[1]) == ("server-timing" in asgi[1]) == (lane[0] == 200)


def test_paths_the_lane_leaves_to_the_asgi_route_are_answered_as_it_would(served):
    """An escaped id is the same deployment; more than one segment, or an escaped
    character no id has, names none. The lane takes none of them; the ASGI route answers."""
    d = served["demo"]
    path = urlsplit(d["url"]).path
    ident = path.removeprefix("/deployment/").removesuffix("/forward")
    escaped = ident.replace("-", "%2D", 1)
    body = rows_body(EXAMPLE_ROWS[0])
    cases = {
        f"/deployment/{escaped}/forward".encode(): 200,
        f"/deployment/{ident}/x/forward".encode(): 404,
        f"/deployment/{ident}%C3%A9/forward".encode(): 404,
    }
    for target, status in cases.items():
        sock, reader = connect(d)
        with sock:
            sock.sendall(request(d, body).replace(path.encode(), target, 1))
            answer = reader.answer()
        assert answer[0] == status, (target, answer)
        if status == 200:
            assert answer[2] == alone(d, EXAMPLE_ROWS[0])
        else:
            assert orjson.loads(answer[2])["errorCode"] == "ResourceNotFound", answer


def test_expect_100_continue_is_answered_before_the_body_is_sent(served):
    d = served["demo"]
    body = rows_body(EXAMPLE_ROWS[1])
    message = request(d, body, extra="Expect: 100-continue\r\n")
    sock, reader = connect(d)
    with sock:
        sock.sendall(message[: -len(body)])
        assert reader.answer()[0] == 100
        sock.sendall(body)
        status, _, answer = reader.answer()
    assert status == 200 and answer == alone(d, EXAMPLE_ROWS[1])


def test_an_http_1_0_request_is_answered_and_its_connection_closed(served):
    d = served["demo"]
    message = request(d, rows_body(EXAMPLE_ROWS[2])).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    sock, reader = connect(d)
    with sock:
        sock.sendall(message)
        status, headers, answer = reader.answer()
        assert reader.closed()
    assert status == 200 and headers["connection"] == "close"
    assert answer == alone(d, EXAMPLE_ROWS[2])


def test_an_answer_before_the_body_keeps_the_connection_for_the_next_request(served):
    """A wrong token is refused as soon as the headers arrive; the body that follows is
    skipped, and the connection serves the next request."""
    d = served["demo"]
    body = rows_body(*EXAMPLE_ROWS * 50)
    refused = request(d, body, token="wrong")
    sock, reader = connect(d)
    with sock:
        sock.sendall(refused[: -len(body)] + body[:100])
        status, _, error = reader.answer()
        assert status == 401 and orjson.loads(error)["errorCode"] == "InvalidTokenError"
        sock.sendall(body[100:] + request(d, rows_body(EXAMPLE_ROWS[3])))
        status, _, answer = reader.answer()
    assert status == 200 and answer == alone(d, EXAMPLE_ROWS[3])


def test_a_client_that_leaves_mid_body_is_logged_and_the_server_goes_on(served):
    d = served["demo"]
    body = rows_body(*EXAMPLE_ROWS)
    sock, _ = connect(d)
    with sock:
        sock.sendall(request(d, body)[:-10])
        time.sleep(0.2)  # the lane is waiting for the rest
    line = f"forward deployment={d['id']} status=499"
    wait_for(lambda: line in served["server"].logs())
    alone(d, EXAMPLE_ROWS[0])  # still serving: alone() asserts a 200


def test_a_chunked_body_is_read_whole(served):
    d = served["demo"]
    body = rows_body(*EXAMPLE_ROWS)
    head = request(d, b"")[: -len(b"Content-Length: 0\r\n\r\n")]
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:]))
    sock, reader = connect(d)
    with sock:
        sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        status, _, answer = reader.answer()
    expected = httpx.post(d["url"], content=body, headers=auth_json(d)).content
    assert status == 200 and answer == expected
