"""A lean bulk TCP transfer that measures a shaped link: `serve` sends N bytes once, `fetch` times them.

    python3 -m netem.tools.bulk serve HOST PORT BYTES    # one connection, then exit
    python3 -m netem.tools.bulk fetch HOST PORT          # → one JSON line

`fetch` prints bytes, seconds (first to last byte) and the steady-state rate over the last 75 % of the
bytes (past TCP slow start), from kernel-sized reads with little CPU per byte. It retries a refused
connection for a bounded time, so both ends can be started at once. It runs wherever the netem package
is: on the host, in the containers (/app/netem) and in the VM image; the rate tests of the compose stack,
of network namespaces and of the VM fidelity suite all use it.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Sequence

TIMEOUT_S = 60.0
CONNECT_RETRY_S = 15.0
CHUNK_B = 1 << 16
STEADY_FROM = 0.25  # rate over the bytes after the first quarter


def serve(host: str, port: int, total_b: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # a literal of either family
    with socket.create_server((host, port), family=family) as listener:
        listener.settimeout(TIMEOUT_S)
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(TIMEOUT_S)
            block = bytes(CHUNK_B)
            left = total_b
            while left > 0:
                conn.sendall(block[:min(left, CHUNK_B)])
                left -= min(left, CHUNK_B)


def _connect(host: str, port: int, retry_s: float) -> socket.socket:
    """Connect, retrying while the listener is not up yet (refused), for at most `retry_s`."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return socket.create_connection((host, port), timeout=TIMEOUT_S)
        except ConnectionRefusedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def fetch(host: str, port: int, retry_s: float = CONNECT_RETRY_S) -> dict[str, float]:
    with _connect(host, port, retry_s) as conn:
        buf = bytearray(CHUNK_B)
        marks: list[tuple[int, float]] = []
        got = 0
        while n := conn.recv_into(buf):
            got += n
            marks.append((got, time.monotonic()))
    if not marks:
        return {"bytes": 0, "seconds": 0.0, "steady_bps": 0.0}
    start_b, start_t = next(m for m in marks if m[0] >= got * STEADY_FROM)
    end_t = marks[-1][1]
    steady = (got - start_b) * 8 / (end_t - start_t) if end_t > start_t else 0.0
    return {"bytes": got, "seconds": end_t - marks[0][1], "steady_bps": steady}


def main(argv: Sequence[str]) -> int:
    if len(argv) == 4 and argv[0] == "serve":
        serve(argv[1], int(argv[2]), int(argv[3]))
        return 0
    if len(argv) == 3 and argv[0] == "fetch":
        print(json.dumps(fetch(argv[1], int(argv[2]))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
