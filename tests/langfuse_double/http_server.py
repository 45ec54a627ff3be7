"""Stdlib HTTP plumbing: read requests off loopback sockets, hand them to the Engine, write replies."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.langfuse_double.engine import Engine, Incoming
from tests.langfuse_double.wire import Reply


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the SDK's connections alive, which keeps latency-injected benchmarks honest.
    protocol_version = "HTTP/1.1"
    # Headers and body would otherwise leave in two small writes, and Nagle plus the client's delayed
    # ACK then stalls every keep-alive response by ~40 ms.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16
    server: DoubleHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - the name http.server dispatches to
        """Serve any method through the engine."""
        incoming = Incoming(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self._body())
        reply = self.server.engine.handle(incoming)
        if reply is None:
            # "Write applied, response lost": close without a status line so the client sees a dead connection.
            self.close_connection = True
            return
        self._write(reply)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _write(self, reply: Reply) -> None:
        payload = self._payload(reply)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.status != 204:
            if payload:
                self.send_header("Content-Type", f"{reply.content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _payload(reply: Reply) -> bytes:
        if reply.body is None or reply.status == 204:
            return b""
        if reply.content_type == "application/json":
            return json.dumps(reply.body, ensure_ascii=False).encode()
        return str(reply.body).encode()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Stay quiet: the RequestLog records everything tests need."""


class DoubleHTTPServer(ThreadingHTTPServer):
    """A threading server that can also cut its idle keep-alive connections on shutdown."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], engine: Engine) -> None:
        super().__init__(address, _Handler)
        self.engine = engine
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection so `close_connections` can end it."""
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection as it closes."""
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut every open connection so handler threads blocked on keep-alive reads exit."""
        with self._open_lock:
            still_open = list(self._open)
        for connection in still_open:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer
