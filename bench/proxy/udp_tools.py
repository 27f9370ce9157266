"""UDP helpers for the relay benchmark: an echo server, a ping-pong latency probe, a windowed blaster.

    python udp_tools.py echo PORT
    python udp_tools.py latency HOST PORT COUNT      -> prints median_us p99_us
    python udp_tools.py blast HOST PORT SECONDS WINDOW -> prints replies received per second
"""

from __future__ import annotations

import socket
import statistics
import sys
import time


def echo(port: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", port))
    while True:
        data, addr = sock.recvfrom(2048)
        sock.sendto(data, addr)


def latency(host: str, port: int, count: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((host, port))
    sock.settimeout(1.0)
    samples = []
    for i in range(count):
        start = time.perf_counter_ns()
        sock.send(i.to_bytes(8, "big") + b"x" * 56)
        try:
            sock.recv(2048)
        except TimeoutError:
            continue
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    print(f"{statistics.median(samples):.1f} {samples[int(len(samples) * 0.99) - 1]:.1f}")


def blast(host: str, port: int, seconds: float, window: int) -> None:
    """Keep `window` datagrams in flight; count replies."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.connect((host, port))
    sock.settimeout(0.2)
    payload = b"p" * 64
    for _ in range(window):
        sock.send(payload)
    received = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            sock.recv(2048)
        except TimeoutError:
            for _ in range(window):
                sock.send(payload)
            continue
        received += 1
        sock.send(payload)
    print(f"{received / seconds:.0f}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "echo":
        echo(int(sys.argv[2]))
    elif cmd == "latency":
        latency(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        blast(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
