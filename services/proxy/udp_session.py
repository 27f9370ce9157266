"""One UDP relay session: the client's address (as Python sees it and as raw `sockaddr` bytes), its own
connected non-blocking upstream socket, the socket its replies leave through, counters."""

from __future__ import annotations

import contextlib
import errno
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from services.common import log
from services.common.inet import format_host_port
from services.common.listen import Bind, open_sockets, parse_bind

Address = tuple[Any, ...]


@dataclass(slots=True, eq=False)
class Session:
    """A client's session: its upstream socket, where its replies go, its counters.

    `reply` is a socket of the relay's own address connected to the client (None: replies leave through the
    relay's shared socket, addressed to `client`). Through it the kernel delivers that client's datagrams
    to a socket of their own and takes replies without an address, so neither direction converts a
    sockaddr to Python and back (`open_reply_socket`)."""

    client: Address
    sock: socket.socket  # connected to the upstream
    name: bytes = b""  # the client's raw sockaddr, where replies are sent (batched path)
    fd: int = -1
    reply: socket.socket | None = None
    reply_fd: int = -1
    packets_up: int = 0
    packets_down: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    created_mono: float = field(default_factory=time.monotonic)
    last_mono: float = field(default_factory=time.monotonic)
    generation: int = -2  # the relay loop's poll in which the upstream socket was last ready
    up_generation: int = -2  # the same for the reply socket


REPLY_SOCKETS = 64  # sessions with a reply socket of their own (see `open_reply_socket`)
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


PICK_ATTEMPTS = 8  # port 0: free ports tried when another socket takes the picked one first


def bind_shared(bind: str, port: int, count: int) -> list[socket.socket]:
    """`count` non-blocking datagram sockets per address of `bind` (`any`: IPv4 and IPv6, see
    `services.common.listen`), all on one port with SO_REUSEPORT (the relay processes share the port, and
    sessions' reply sockets join it); an IPv6 socket is IPV6_V6ONLY, so each serves one family.

    The port is first bound by plain sockets (one per address, one port number across the families),
    then released and joined: a port another socket holds is refused (EADDRINUSE) as without SO_REUSEPORT,
    and port 0 picks a port no socket holds. (Left to the kernel, port 0 with SO_REUSEPORT may pick a port
    where another process of the same user has SO_REUSEPORT sockets, and join their group: two relays on
    one port.) An address `any` leaves out (no IPv6 on this host) is logged, not an error."""
    wanted = parse_bind(bind)
    attempts = 0
    while True:
        probe = open_sockets(wanted, port, socket.SOCK_DGRAM)
        picked, skipped = int(probe.sockets[0].getsockname()[1]), list(probe.skipped)
        probe.close()
        left_out = {address for address, _ in skipped}
        bound = Bind(tuple(a for a in wanted.addresses if a not in left_out))
        try:
            socks = _join(bound, picked, count)
        except OSError as exc:  # port 0: taken between the probe and the join; pick another
            attempts += 1
            if port or exc.errno != errno.EADDRINUSE or attempts >= PICK_ATTEMPTS:
                raise
            continue
        for address, why in skipped:
            log.event("proxy.family_unavailable", address=address, reason=why)
        return socks


def _join(bound: Bind, port: int, count: int) -> list[socket.socket]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks += open_sockets(bound, port, socket.SOCK_DGRAM, reuse_port=True).sockets
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def open_reply_socket(shared: socket.socket, client: Address) -> socket.socket:
    """A non-blocking socket bound to `shared`'s address (SO_REUSEPORT, which `shared` must have too) and
    connected to `client`. From then on the kernel delivers `client`'s datagrams to it rather than to
    `shared` (a connected socket matches all four address fields; Linux skips connected sockets when it
    spreads datagrams over a SO_REUSEPORT group), and a reply is one `send` without an address."""
    sock = socket.socket(shared.family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if shared.family == socket.AF_INET6:
            v6only = shared.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
        sock.setblocking(False)
        grow_buffers(sock, SESSION_BUFFER)
        sock.bind(shared.getsockname())
        sock.connect(client)
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
