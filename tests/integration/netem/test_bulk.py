"""The bulk-transfer tool used by every rate test: all bytes arrive and the rate is computed from them."""

from __future__ import annotations

import socket
import threading

from netem.tools import bulk


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_fetch_waits_for_the_listener_and_counts_every_byte() -> None:
    port = _free_port()
    total = 3 * 1024 * 1024 + 17
    sender = threading.Timer(0.3, bulk.serve, args=("127.0.0.1", port, total))  # starts after fetch
    sender.start()
    try:
        result = bulk.fetch("127.0.0.1", port, retry_s=10)
    finally:
        sender.join(timeout=30)
    assert result["bytes"] == total
    assert result["seconds"] > 0 and result["steady_bps"] > 0


def test_main_usage_error() -> None:
    assert bulk.main(["bogus"]) == 2
