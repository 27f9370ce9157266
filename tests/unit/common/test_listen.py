"""`--bind`: which addresses a service listens on, and what happens when one family cannot be bound.
Sockets are fakes here (no network); tests/integration/test_listen_sockets.py binds real ones."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from services.common.inet import AddressError
from services.common.listen import Bind, Listeners, format_addresses, open_sockets, parse_bind


@pytest.mark.parametrize(("text", "expected"), [
    ("any", Bind(("0.0.0.0", "::"), frozenset({"::"}))),
    ("", Bind(("0.0.0.0", "::"), frozenset({"::"}))),
    ("127.0.0.1,::1", Bind(("127.0.0.1", "::1"))),
    ("[::1], 127.0.0.1, ::1", Bind(("::1", "127.0.0.1"))),
    ("0.0.0.0", Bind(("0.0.0.0",))),
    ("FD00::0010", Bind(("fd00::10",))),
])
def test_parse_bind(text: str, expected: Bind) -> None:
    assert parse_bind(text) == expected


@pytest.mark.parametrize("text", ["localhost", "127.1", "[::1", "::1]", "0.0.0.0:80", ","])
def test_bad_bind_lists_are_errors(text: str) -> None:
    with pytest.raises(AddressError):
        parse_bind(text)


@dataclass
class FakeSocket:
    family: int
    kind: int
    host: FakeHost
    opts: dict[tuple[int, int], int] = field(default_factory=dict)
    name: tuple[Any, ...] = ()
    listening: int = -1
    closed: bool = False

    def setsockopt(self, level: int, option: int, value: int) -> None:
        self.opts[(level, option)] = value

    def bind(self, address: tuple[Any, ...]) -> None:
        self.host.bind(self, address)

    def listen(self, backlog: int) -> None:
        self.listening = backlog

    def setblocking(self, flag: bool) -> None:
        pass

    def getsockname(self) -> tuple[Any, ...]:
        return self.name

    def close(self) -> None:
        self.closed = True


@dataclass
class FakeHost:
    """Hands out ports from `free`; `no_v6` makes IPv6 sockets fail as on a kernel without IPv6;
    `taken` ports refuse binds (per family)."""

    free: list[int] = field(default_factory=lambda: [41000, 42000, 43000])
    no_v6: bool = False
    taken: set[tuple[int, int]] = field(default_factory=set)
    made: list[FakeSocket] = field(default_factory=list)

    def socket(self, family: int, kind: int) -> FakeSocket:
        if self.no_v6 and family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        made = FakeSocket(family, kind, self)
        self.made.append(made)
        return made

    def bind(self, sock: FakeSocket, address: tuple[Any, ...]) -> None:
        port = address[1] or self.free.pop(0)
        if (sock.family, port) in self.taken:
            raise OSError(errno.EADDRINUSE, "Address already in use")
        sock.name = (address[0], port)


def _open(host: FakeHost, text: str, port: int, kind: int, backlog: int = 1024) -> Listeners:
    return open_sockets(parse_bind(text), port, kind, backlog=backlog,
                        make_socket=host.socket)  # type: ignore[arg-type]


def test_any_listens_on_both_families_on_one_port_and_v6_is_v6_only() -> None:
    host = FakeHost()
    done = _open(host, "any", 0, socket.SOCK_STREAM, backlog=7)
    assert [s.getsockname() for s in done.sockets] == [("0.0.0.0", 41000), ("::", 41000)]
    v6 = cast(FakeSocket, done.sockets[1])
    assert v6.opts[(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)] == 1 and v6.listening == 7
    assert format_addresses(done.sockets) == "0.0.0.0:41000,[::]:41000" and done.skipped == []


def test_any_without_ipv6_listens_on_ipv4_and_says_why() -> None:
    host = FakeHost(no_v6=True)
    done = _open(host, "any", 8123, socket.SOCK_DGRAM)
    assert [s.getsockname() for s in done.sockets] == [("0.0.0.0", 8123)]
    assert done.skipped == [("::", "Address family not supported by protocol")]


def test_an_address_asked_for_by_name_is_never_skipped() -> None:
    host = FakeHost(no_v6=True)
    with pytest.raises(OSError, match=r"cannot listen on 127\.0\.0\.1:8123,\[::1\]:8123"):
        _open(host, "127.0.0.1,::1", 8123, socket.SOCK_STREAM)
    assert all(s.closed for s in host.made)  # the IPv4 socket bound first is not leaked


def test_port_zero_retries_when_the_other_family_has_the_port_taken() -> None:
    host = FakeHost(taken={(socket.AF_INET6, 41000)})
    done = _open(host, "any", 0, socket.SOCK_STREAM)
    assert [s.getsockname()[1] for s in done.sockets] == [42000, 42000]
    assert [s.closed for s in host.made] == [True, True, False, False]


def test_a_fixed_port_taken_is_an_error_naming_it() -> None:
    host = FakeHost(taken={(socket.AF_INET6, 8123)})
    with pytest.raises(OSError, match="Address already in use") as caught:
        _open(host, "any", 8123, socket.SOCK_STREAM)
    assert caught.value.errno == errno.EADDRINUSE  # even for the optional family: a real conflict


def test_only_tcp_listeners_reuse_addresses() -> None:
    """SO_REUSEADDR on a UDP socket would let a second service bind the same port and steal datagrams."""
    host = FakeHost()
    tcp = _open(host, "127.0.0.1", 0, socket.SOCK_STREAM).sockets[0]
    udp = _open(host, "127.0.0.1", 0, socket.SOCK_DGRAM).sockets[0]
    assert cast(FakeSocket, tcp).opts.get((socket.SOL_SOCKET, socket.SO_REUSEADDR)) == 1
    assert (socket.SOL_SOCKET, socket.SO_REUSEADDR) not in cast(FakeSocket, udp).opts
