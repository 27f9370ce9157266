"""One UDP relay session: the client's address, its own connected non-blocking upstream socket, counters."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

from services.common.inet import format_host_port

Address = tuple[Any, ...]


@dataclass(slots=True)
class SessionStats:
    packets_up: int = 0
    packets_down: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    created_mono: float = field(default_factory=time.monotonic)
    last_mono: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Session:
    client: Address
    sock: socket.socket
    stats: SessionStats


def open_upstream_socket(upstream: Address) -> socket.socket:
    """A non-blocking datagram socket connected to the upstream (connect on UDP only sets the peer)."""
    family = socket.AF_INET6 if ":" in str(upstream[0]) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(upstream)
    except OSError:
        sock.close()
        raise
    return sock


def fmt_address(addr: Address) -> str:
    """`10.0.0.5:41000`, `[fd00::5]:41000` (a v6 sockaddr's flow info and scope id left out)."""
    return format_host_port(str(addr[0]), int(addr[1]))
