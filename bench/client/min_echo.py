"""A minimal stamping probe echo (one blocking thread), to separate the client's cost from the echo's.

    python bench/client/min_echo.py   → prints `echo=PORT`, serves until killed
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.common.probe import is_probe, stamp_reply


def serve(sock: socket.socket) -> None:
    counts: dict[bytes, int] = {}
    while True:
        data, peer = sock.recvfrom(65535)
        recv_ns = time.time_ns()
        if is_probe(data):
            test_id = data[8:12]
            counts[test_id] = counts.get(test_id, 0) + 1
            data = stamp_reply(data, recv_ns, time.time_ns(), counts[test_id])
        sock.sendto(data, peer)


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    print(f"echo={sock.getsockname()[1]}", flush=True)
    serve(sock)


if __name__ == "__main__":
    main()
