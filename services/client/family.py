"""The address family a test uses: `--family` applied to a target's addresses (a thin resolver shell).

`auto` keeps the resolver's order, which is the operating system's choice (RFC 6724 as /etc/gai.conf
configures it: glibc puts IPv6, unique-local included, before IPv4 when the host has an IPv6 route), and
tries the next address when one fails, as `socket.create_connection` does; `4` and `6` keep only that
family. What a row records in `ip_version` is the family of the socket that carried the test.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from services.common.inet import AUTO, BOTH, V4, V6, family_conflict

AddrInfo = tuple[Any, ...]  # (family, type, proto, canonname, sockaddr), as socket.getaddrinfo gives it
Resolver = Callable[..., Sequence[AddrInfo]]
_SOCKET_FAMILY = {AUTO: socket.AF_UNSPEC, "4": socket.AF_INET, "6": socket.AF_INET6}


class NoAddress(socket.gaierror):
    """The target has no address of the asked family (a `dns` error to the HTTP and load tests)."""

    def __str__(self) -> str:
        return str(self.strerror)


def runs(family: str) -> list[str]:
    """The families one test runs over: `both` is IPv4 then IPv6, anything else itself."""
    return ["4", "6"] if family == BOTH else [family]


def addresses(host: str, port: int, family: str, socktype: int,
              resolver: Resolver = socket.getaddrinfo) -> list[AddrInfo]:
    """`host`'s addresses of `family`, in the resolver's order; NoAddress when it has none."""
    conflict = family_conflict(host, family)
    if conflict is not None:
        raise NoAddress(socket.EAI_NONAME, conflict)
    try:
        found = list(resolver(host, port, _SOCKET_FAMILY[family], socktype))
    except socket.gaierror as exc:
        if family == AUTO or not _resolves(host, port, socktype, resolver):
            raise  # the name itself is unknown, perhaps not yet (a Swarm service still starting): retryable
        raise NoAddress(exc.errno, f"{host} has no IPv{family} address ({exc.strerror})") from exc
    if not found:
        raise NoAddress(socket.EAI_NONAME, f"{host} has no address")
    return found


def _resolves(host: str, port: int, socktype: int, resolver: Resolver) -> bool:
    """Whether `host` has any address at all: only then does a failure for one family mean it lacks that
    family (which waiting cannot cure) rather than a name the resolver does not know yet."""
    try:
        return bool(resolver(host, port, socket.AF_UNSPEC, socktype))
    except socket.gaierror:
        return False


def version(sock_family: int) -> int:
    """4 or 6 for a socket's family."""
    return V6 if sock_family == socket.AF_INET6 else V4


def connect_tcp(host: str, port: int, family: str, timeout_s: float) -> socket.socket:
    """A TCP connection over `family`: each address in order until one connects (the last error if none)."""
    error: OSError | None = None
    for sock_family, kind, proto, _, address in addresses(host, port, family, socket.SOCK_STREAM):
        sock = socket.socket(sock_family, kind, proto)
        try:
            sock.settimeout(timeout_s)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    assert error is not None  # addresses() is never empty
    raise error


def first_address(host: str, port: int, family: str) -> tuple[str, int]:
    """The address a test that resolves once (load) connects to, and its IP version."""
    sock_family, _, _, _, address = addresses(host, port, family, socket.SOCK_STREAM)[0]
    return str(address[0]), version(sock_family)
