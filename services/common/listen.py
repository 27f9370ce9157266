"""Listening sockets on every address of `--bind`: both families, one port number (a thin socket shell).

`--bind` is `any` (the default: every address of both families, `0.0.0.0` and `::`, the IPv6 one left
out with a note when the host has no IPv6) or a comma-separated list bound strictly (`127.0.0.1,::1`,
`0.0.0.0`, `::`, `[fd00::10]`). Each address gets its own socket; an IPv6 socket is IPV6_V6ONLY, so a
service never sees an IPv4 client as `::ffff:a.b.c.d` and an IPv4 allow-list keeps meaning what it says.
All sockets of one service share one port number: with port 0 the first socket's, retried when another
family has it taken.

    bind = parse_bind("any")
    done = open_sockets(bind, 8000, socket.SOCK_STREAM, backlog=1024)
    done.sockets, done.skipped      # [v4 socket, v6 socket], [] (or [("::", "…why…")])
    format_addresses(done.sockets)  # "0.0.0.0:8000,[::]:8000", for the `*.listening` log line
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from services.common.inet import V6, AddressError, format_host_port, ip_literal

ANY = "any"
ANY_ADDRESSES = ("0.0.0.0", "::")
PORT_ATTEMPTS = 20  # port 0 on several families: tries before giving up
_SocketFactory = Callable[[int, int], socket.socket]


@dataclass(frozen=True)
class Bind:
    """The addresses to listen on; `optional` ones are skipped (with a note) when the host cannot bind."""

    addresses: tuple[str, ...]
    optional: frozenset[str] = frozenset()


@dataclass
class Listeners:
    sockets: list[socket.socket] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (address, why)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets.clear()


def parse_bind(text: str) -> Bind:
    """`any` (or `*`, empty) → both families' wildcards, IPv6 optional; else a comma-separated list of
    IP literals (`::1`, `[::1]`, `fe80::1%eth0`), each required. Raises ValueError naming a bad entry."""
    if text.strip().lower() in (ANY, "*", ""):
        return Bind(ANY_ADDRESSES, frozenset({"::"}))
    addresses: list[str] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host = item[1:-1] if item.startswith("[") and item.endswith("]") else item
        if ip_literal(host) is None:
            raise AddressError(item, "--bind takes IP addresses (or `any`), e.g. 0.0.0.0,::")
        addresses.append(str(ip_literal(host)))
    if not addresses:
        raise AddressError(text, "no address to bind")
    return Bind(tuple(dict.fromkeys(addresses)))


def _family(address: str) -> int:
    literal = ip_literal(address)
    return socket.AF_INET6 if literal is not None and literal.version == V6 else socket.AF_INET


def _sockaddr(address: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    """What `bind` takes; a zone (`fe80::1%eth0`) becomes the scope id through the resolver."""
    if "%" not in address:
        return (address, port)
    info: tuple[object, ...] = socket.getaddrinfo(address, port, socket.AF_INET6,
                                                  flags=socket.AI_NUMERICHOST)[0][4]
    return (str(info[0]), port, int(str(info[2])), int(str(info[3])))


def _open_one(address: str, port: int, kind: int, backlog: int, reuse_port: bool,
              make_socket: _SocketFactory) -> socket.socket:
    family = _family(address)
    sock = make_socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:  # past TIME_WAIT; on UDP it would let two services share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(_sockaddr(address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def _attempt(bind: Bind, port: int, kind: int, backlog: int, reuse_port: bool,
             make_socket: _SocketFactory) -> Listeners:
    done = Listeners()
    try:
        for address in bind.addresses:
            try:
                sock = _open_one(address, port, kind, backlog, reuse_port, make_socket)
            except OSError as exc:
                if address not in bind.optional or exc.errno == errno.EADDRINUSE:
                    raise
                done.skipped.append((address, exc.strerror or str(exc)))
                continue
            done.sockets.append(sock)
            port = port or sock.getsockname()[1]
    except BaseException:
        done.close()
        raise
    return done


def open_sockets(bind: Bind, port: int, kind: int, *, backlog: int = 1024, reuse_port: bool = False,
                 make_socket: _SocketFactory = socket.socket) -> Listeners:
    """One bound socket (listening, for SOCK_STREAM) per address of `bind`, all on one port number.
    Raises OSError for a required address that cannot be bound (the error names it)."""
    for attempt in range(PORT_ATTEMPTS):
        try:
            return _attempt(bind, port, kind, backlog, reuse_port, make_socket)
        except OSError as exc:
            retry = port == 0 and exc.errno == errno.EADDRINUSE and attempt + 1 < PORT_ATTEMPTS
            if not retry:
                why = exc.strerror or str(exc)
                raise OSError(exc.errno, f"cannot listen on {_names(bind, port)}: {why}") from exc
    raise AssertionError("unreachable")  # the last attempt raises


def _names(bind: Bind, port: int) -> str:
    return ",".join(format_host_port(address, port) for address in bind.addresses)


def format_addresses(socks: Sequence[socket.socket]) -> str:
    """`0.0.0.0:8000,[::]:8000`: where a service listens, for its `*.listening` log line."""
    names = (sock.getsockname() for sock in socks)
    return ",".join(format_host_port(str(name[0]), int(name[1])) for name in names)


def valid_bind(text: str) -> str:
    """`--bind` as a setting (services.common.config.Option): the text, checked by `parse_bind`."""
    parse_bind(text)
    return text.strip()


def can_bind(address: str) -> bool:
    """Whether this host can bind `address` now (`::1`: it has IPv6 on its loopback), probed with a socket."""
    try:
        with socket.socket(_family(address), socket.SOCK_STREAM) as sock:
            sock.bind(_sockaddr(address, 0))
    except OSError:
        return False
    return True
