"""HTTP/1.1 over a raw socket, for tests that send what client libraries rarely do
(pipelined requests, a body cut short, Expect: 100-continue) and read each answer."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

Answer = tuple[int, dict[str, str], bytes]


class Reader:
    """HTTP/1.1 answers read off a socket, one at a time (Content-Length bodies only)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk

    def answer(self) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        """True when the server closes the connection (and sends nothing more)."""
        try:
            self._fill()
        except EOFError:
            return True
        return False


def connect(d: dict[str, Any]) -> tuple[socket.socket, Reader]:
    parts = urlsplit(d["url"])
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock, Reader(sock)
