"""One fake client transport for the server's and the proxy's connection tests (no sockets)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

AT_HEADS = -1  # a `splits` step: one read per request head (and its body), as a pipelining client sends


def splits(data: bytes, step: int) -> Iterator[bytes]:
    """`data` as the reads a connection gets: `step`-byte pieces, all at once (0), or one read ending at
    each head's blank line (`AT_HEADS`: a body that follows is a read of its own, the fast path's case)."""
    if step == AT_HEADS:
        return iter([part for part in re.split(rb"(?<=\r\n\r\n)", data) if part])
    return (data[i:i + step] for i in range(0, len(data), step)) if step else iter([data])


class FakeTransport(asyncio.Transport):
    """Records what a protocol writes and how it ends the connection: closed, aborted or half-closed."""

    def __init__(self, sock: object = None) -> None:
        super().__init__()
        self.out: list[bytes] = []
        self.closed = self.aborted = self.eof_written = False
        self.sock = sock  # what get_extra_info("socket") returns (TCP_INFO readers)

    def write(self, data: Any) -> None:
        self.out.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return ("127.0.0.1", 5000)
        if name == "socket" and self.sock is not None:
            return self.sock
        return default

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    @property
    def data(self) -> bytes:
        return b"".join(self.out)

    @property
    def ended(self) -> bool:
        """Nothing more will be written: closed, or half-closed after an answer (a lingering close)."""
        return self.closed or self.eof_written
