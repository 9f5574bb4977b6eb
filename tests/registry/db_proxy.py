"""A TCP proxy the test controls, between forwardpass and the machine's PostgreSQL: it can
pass, refuse (as a stopped server does) or stall (as a frozen one does) connections, so that
an outage is tested without touching the real service."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class Proxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "pass"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]
        self._closed = False

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return listener

    def url(self, database_url: str) -> str:
        return database_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    def refuse(self) -> None:
        """Stop listening and drop every connection, as a stopped PostgreSQL does."""
        self.mode = "refuse"
        # shutdown() first: close() alone leaves a thread blocked in accept() listening.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            for client, server in self._pairs:
                client.close()
                server.close()
            self._pairs.clear()

    def stall(self) -> None:
        """Accept connections but pass no byte either way, as a frozen PostgreSQL does."""
        self.mode = "stall"

    def resume(self) -> None:
        if self.mode == "refuse":
            self._listener = self._listen(self.port)
        self.mode = "pass"

    def close(self) -> None:
        self._closed = True
        self.refuse()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by refuse()
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peers = {client: server, server: client}
        try:
            while True:
                if self.mode == "stall":
                    time.sleep(0.05)
                    continue
                ready, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            client.close()
            server.close()
