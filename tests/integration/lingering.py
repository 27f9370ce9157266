"""Does an error answer survive the bytes the client sent after the bad request? (lingering close)

A peer that closes while bytes it has not read are in its receive buffer resets the connection instead of
ending it: the client's read fails instead of ending cleanly, and on a real network the part of the answer
still in flight is discarded. Sending a bad head followed by more than one read's worth of bytes makes
that deterministic on loopback: the peer answers the head while the rest is still unread.
"""

from __future__ import annotations

import contextlib
import socket

TRAILING = b"x" * (1 << 20)  # more than one asyncio read (256 KiB), so some is unread at the answer


def answer_to_a_bad_head_and_more(sock: socket.socket, head: bytes, timeout_s: float = 10.0
                                  ) -> tuple[bytes, bool]:
    """Send `head` and TRAILING at once, then read to the end: (everything read, was it reset)."""
    sock.settimeout(timeout_s)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a reset shows in the read below
        sock.sendall(head + TRAILING)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        return data, True
    return data, False
