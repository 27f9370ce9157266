"""One UDP relay session: the client's address (as Python sees it and as raw `sockaddr` bytes), its own
connected non-blocking upstream socket, counters."""

from __future__ import annotations

import contextlib
import socket
import sys
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
    name: bytes = b""  # the client's raw sockaddr, where replies are sent (batched path)
    fd: int = -1
    generation: int = -2  # the relay loop's poll in which this session's socket was last ready


CLIENT_BUFFER = 4 << 20  # the relay's client socket: a burst while the relay is descheduled is not lost
SESSION_BUFFER = 1 << 20  # each session's upstream socket (replies of one client)


def grow_buffers(sock: socket.socket, size: int) -> None:
    """Receive and send buffers of `size` bytes: beyond `net.core.rmem_max` where the process may
    (CAP_NET_ADMIN: SO_RCVBUFFORCE), else as large as the system allows. Memory is used only while
    datagrams wait."""
    for force, plain in ((getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF),
                         (getattr(socket, "SO_SNDBUFFORCE", None), socket.SO_SNDBUF)):
        try:
            if force is None:
                raise PermissionError
            sock.setsockopt(socket.SOL_SOCKET, force, size)
        except OSError:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, plain, size)


def open_upstream_socket(upstream: Address) -> socket.socket:
    """A non-blocking datagram socket connected to the upstream (connect on UDP only sets the peer)."""
    family = socket.AF_INET6 if ":" in str(upstream[0]) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        grow_buffers(sock, SESSION_BUFFER)
        sock.connect(upstream)
    except OSError:
        sock.close()
        raise
    return sock


def fmt_address(addr: Address) -> str:
    """`10.0.0.5:41000`, `[fd00::5]:41000` (a v6 sockaddr's flow info and scope id left out)."""
    return format_host_port(str(addr[0]), int(addr[1]))


def sockaddr_len(family: int) -> int:
    """Bytes of a `struct sockaddr_in` / `sockaddr_in6` (what the kernel writes for this socket's peers)."""
    return 28 if family == socket.AF_INET6 else 16


def address_of(name: bytes) -> Address:
    """A raw `sockaddr_in`/`sockaddr_in6` as the tuple `socket.recvfrom` would give."""
    family = int.from_bytes(name[:2], sys.byteorder)
    port = int.from_bytes(name[2:4], "big")
    if family == socket.AF_INET6:
        return (socket.inet_ntop(socket.AF_INET6, name[8:24]), port, int.from_bytes(name[4:8], "big"),
                int.from_bytes(name[24:28], sys.byteorder))
    return (socket.inet_ntop(socket.AF_INET, name[4:8]), port)


def name_of(addr: Address, family: int) -> bytes:
    """The raw sockaddr of `addr` for a socket of `family` (the inverse of `address_of`)."""
    port = int(addr[1]).to_bytes(2, "big")
    if family == socket.AF_INET6:
        host = str(addr[0])
        if ":" not in host:  # an IPv4 client of a dual-stack socket
            host = "::ffff:" + host
        flow = int(addr[2]) if len(addr) > 2 else 0
        scope = int(addr[3]) if len(addr) > 3 else 0
        return (socket.AF_INET6.to_bytes(2, sys.byteorder) + port + flow.to_bytes(4, "big")
                + socket.inet_pton(socket.AF_INET6, host) + scope.to_bytes(4, sys.byteorder))
    return (socket.AF_INET.to_bytes(2, sys.byteorder) + port + socket.inet_pton(socket.AF_INET, addr[0])
            + bytes(8))
