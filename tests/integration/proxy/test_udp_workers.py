"""`--udp-workers 2`: the proxy as a subprocess, a UDP echo in a thread, many clients on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from services.proxy.udp_session import bind_shared
from tests.integration.processes import internal_json

REPO = Path(__file__).resolve().parents[3]


class Echo:
    """A UDP echo on 127.0.0.1 in a thread, remembering every peer (the relay's upstream sockets)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self.peers: set[Any] = set()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            self.peers.add(peer)
            self.sock.sendto(data, peer)

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        self.sock.close()


class Proxy:
    """`python -m services.proxy --udp-workers N` on 127.0.0.1 with free ports; its log lines parsed."""

    def __init__(self, echo_port: int, workers: int) -> None:
        cmd = [sys.executable, "-m", "services.proxy", "--bind", "127.0.0.1", "--http-port", "0",
               "--udp-port", "0", "--upstream", "127.0.0.1:9", "--upstream-udp", f"127.0.0.1:{echo_port}",
               "--no-access-log", "--udp-workers", str(workers)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
        self.worker_pids: list[int] = []
        assert self.proc.stdout is not None
        for _ in range(workers + 5):  # bounded: worker lines, then the listening line
            line = self.proc.stdout.readline()
            if found := re.search(r"event=proxy\.udp_workers workers=\d+ pids=([\d,]+)", line):
                self.worker_pids = [int(pid) for pid in found.group(1).split(",")[1:]]  # after the main one
            if "event=proxy.listening" in line:
                self.listening = line
                break
        else:
            raise AssertionError("no listening line")
        self.http_port = int(re.findall(r"http=127\.0\.0\.1:(\d+)", self.listening)[0])
        self.udp_port = int(re.findall(r"udp=127\.0\.0\.1:(\d+)", self.listening)[0])

    def stats(self) -> dict[str, Any]:
        udp: dict[str, Any] = internal_json(("127.0.0.1", self.http_port), "/_proxy/stats")["udp"]
        return udp

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        finally:
            assert self.proc.stdout is not None
            self.proc.stdout.close()


@contextmanager
def running(workers: int) -> Iterator[tuple[Echo, Proxy]]:
    echo = Echo()
    proxy = Proxy(echo.port, workers)
    try:
        yield echo, proxy
    finally:
        if proxy.proc.poll() is None:
            proxy.proc.kill()
            proxy.proc.wait(timeout=5)
        if proxy.proc.stdout is not None:
            proxy.proc.stdout.close()
        echo.close()


def gone(pid: int) -> bool:
    """True once `pid` has exited (reaped, or a zombie waiting for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def wait_until(check: Any, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


def exchange(clients: list[socket.socket], rounds: int) -> None:
    """Each client sends `rounds` datagrams naming itself and must get exactly its own back."""
    for k in range(rounds):
        for i, sock in enumerate(clients):
            sock.send(f"c{i}-{k}".encode())
        for i, sock in enumerate(clients):
            assert sock.recv(2048) == f"c{i}-{k}".encode()


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_two_workers_keep_each_client_on_one_session_and_sum_their_counters() -> None:
    with running(2) as (echo, proxy):
        assert len(proxy.worker_pids) == 2 and "udp_workers=2" in proxy.listening
        clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(40)]
        try:
            for sock in clients:
                sock.settimeout(5)
                sock.connect(("127.0.0.1", proxy.udp_port))
            exchange(clients, 5)
        finally:
            for sock in clients:
                sock.close()
        # affinity: one upstream socket per client, so no client was ever seen by both workers
        assert len(echo.peers) == 40
        assert wait_until(lambda: proxy.stats()["packets_down_total"] == 200), proxy.stats()
        udp = proxy.stats()
        assert udp["workers"] == 2 and udp["packets_up_total"] == 200 and udp["sessions"] == 40
        rows = udp["per_worker"]
        assert [row["worker"] for row in rows] == [0, 1] and [r["pid"] for r in rows] == proxy.worker_pids
        assert all(row["sessions"] > 0 for row in rows), rows  # 40 clients: both workers used
        assert sum(row["packets_up_total"] for row in rows) == 200
        assert proxy.stop() == 0
        assert all(wait_until(lambda pid=pid: gone(pid)) for pid in proxy.worker_pids)


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_sigterm_stops_every_worker() -> None:
    with running(3) as (_, proxy):
        assert len(proxy.worker_pids) == 3
        assert all(not gone(pid) for pid in proxy.worker_pids)
        assert proxy.stop() == 0
        assert all(gone(pid) for pid in proxy.worker_pids)  # reaped before the main process exited


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_workers_exit_when_the_main_process_is_killed() -> None:
    with running(2) as (_, proxy):
        os.kill(proxy.proc.pid, signal.SIGKILL)
        proxy.proc.wait(timeout=5)
        assert all(wait_until(lambda pid=pid: gone(pid)) for pid in proxy.worker_pids)


def test_one_worker_reports_plain_counters() -> None:
    """One relay process (never inside the HTTP process): plain counters, exact when read, with its
    sessions listed."""
    with running(1) as (_, proxy):
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            client.settimeout(5)
            client.connect(("127.0.0.1", proxy.udp_port))
            exchange([client], 3)
        finally:
            client.close()
        udp = proxy.stats()  # read at once: the relay publishes when asked, no waiting for a tick
        assert len(proxy.worker_pids) == 1 and proxy.proc.pid not in proxy.worker_pids
        assert "workers" not in udp and udp["packets_down_total"] == udp["packets_up_total"] == 3
        assert [row["packets_down"] for row in udp["per_session"]] == [3]
        assert proxy.stop() == 0
        assert wait_until(lambda: gone(proxy.worker_pids[0]))


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="needs SO_REUSEPORT")
def test_port_0_never_joins_another_process_s_reuseport_group() -> None:
    """Left to the kernel, port 0 with SO_REUSEPORT may land on a port where other SO_REUSEPORT sockets of
    the same user are (another proxy's relay, nginx's `udp reuseport`) and join their group, so two relays
    would split one port's datagrams. With 1,000 such ports held (3 % of the ephemeral range here), 300
    binds would land on one with near certainty (measured: 13 of 300); `bind_shared` never does."""
    foreign: list[socket.socket] = []
    try:
        for _ in range(1000):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            foreign.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("127.0.0.1", 0))
        held = {sock.getsockname()[1] for sock in foreign}
        for _ in range(300):
            socks = bind_shared("127.0.0.1", 0, 2)
            ports = {sock.getsockname()[1] for sock in socks}
            for sock in socks:
                sock.close()
            assert len(ports) == 1 and not ports & held
    finally:
        for sock in foreign:
            sock.close()
