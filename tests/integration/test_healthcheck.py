"""The compose healthcheck command reports health by exit code."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from services.common import healthcheck


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def origin() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_healthy_unhealthy_and_unreachable(origin: int) -> None:
    assert healthcheck.main([f"http://127.0.0.1:{origin}/ok"]) == 0
    assert healthcheck.main([f"http://127.0.0.1:{origin}/bad"]) == 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    assert healthcheck.main([f"http://127.0.0.1:{closed_port}/", "--timeout", "1"]) == 1
    assert healthcheck.main(["ftp://example/"]) == 1
