"""The readiness probe before a QoS run finds echoes whose replies take longer than its probe gap."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from services.client.qos import runner
from services.client.qos.config import QosConfig
from services.client.qos.runner import wait_for_echo


@pytest.fixture
def slow_echo() -> Iterator[int]:
    """Echoes each datagram 600 ms late (a satellite round trip), for at most 10 s."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        deadline = time.monotonic() + 10
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                data, addr = sock.recvfrom(2048)
            except TimeoutError:
                continue
            threading.Timer(0.6, sock.sendto, args=(data, addr)).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        time.sleep(0.7)  # let pending timers fire before the socket closes
        sock.close()


def test_a_reply_slower_than_the_probe_gap_counts(slow_echo: int) -> None:
    started = time.monotonic()
    assert wait_for_echo(QosConfig("127.0.0.1", slow_echo, count=1), timeout_s=5)
    assert 0.5 < time.monotonic() - started < 3.0


def test_no_echo_gives_up_at_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))  # bound, never answers
        started = time.monotonic()
        assert not wait_for_echo(QosConfig("127.0.0.1", silent.getsockname()[1], count=1), timeout_s=0.8)
    assert 0.7 < time.monotonic() - started < 2.5


def test_a_long_wait_says_what_it_waits_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "READY_REPORT_S", 0.3)
    said: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        assert not wait_for_echo(QosConfig("127.0.0.1", port, count=1), timeout_s=1.0, report=said.append)
    assert 2 <= len(said) <= 4, said
    assert said[0].startswith(f"qos: no echo reply from 127.0.0.1:{port} yet: waited 0 s of 1 s (")
