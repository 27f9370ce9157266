"""The UDP relay out of file descriptors (issue 16 #2): the idlest session gives its socket to the new
client (it used to lock new clients out for the whole idle expiry), one log line per episode."""

from __future__ import annotations

import errno
import socket

import pytest

from services.proxy.udp_loop import EpollLoop
from services.proxy.udp_relay import UdpRelay
from services.proxy.udp_session import Address


class Fds:
    """`open_socket` with a file-descriptor limit: the (limit+1)-th open socket fails with EMFILE."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: list[socket.socket] = []

    def __call__(self, upstream: Address) -> socket.socket:
        self.open = [s for s in self.open if s.fileno() != -1]
        if len(self.open) >= self.limit:
            raise OSError(errno.EMFILE, "Too many open files")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(upstream)
        self.open.append(sock)
        return sock


class Now:
    """The loop's clock, set by the test (the relay stamps sessions with `loop.now`)."""

    def __init__(self, loop: EpollLoop) -> None:
        self.loop = loop

    def __setitem__(self, _index: int, value: float) -> None:
        self.loop.now = value


def run_relay(fds: Fds, body: object) -> None:
    loop = EpollLoop(clock=lambda: 0.0)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # an upstream that exists (no ICMP errors)
    sink.bind(("127.0.0.1", 0))
    relay = UdpRelay(sink.getsockname(), max_sessions=100, open_socket=fds)
    relay.start(loop, ("127.0.0.1", 0))
    assert relay.resolved
    try:
        body(relay, Now(loop))  # type: ignore[operator]
    finally:
        relay.close()
        sink.close()
        loop.close()


def test_out_of_fds_the_idlest_session_makes_room(capsys: pytest.CaptureFixture[str]) -> None:
    def body(relay: UdpRelay, now: Now) -> None:
        for port in range(3):
            now[0] = float(port)
            relay.forward_up(b"x", ("127.0.0.1", 40000 + port))
        now[0] = 10.0
        relay.forward_up(b"again", ("127.0.0.1", 40000))  # 40000 active again: 40001 is now the idlest
        for port in (40010, 40011):
            relay.forward_up(b"new", ("127.0.0.1", port))
        assert [a[1] for a in relay.sessions] == [40000, 40010, 40011]
        assert relay.fd_exhausted == 2 and relay.stats()["fd_exhausted"] == 2 and relay.upstream_errors == 0

    run_relay(Fds(3), body)
    assert capsys.readouterr().out.count("event=proxy.udp_fd_exhausted") == 1


def test_with_no_session_to_give_up_the_datagram_is_parked_not_an_exception() -> None:
    def body(relay: UdpRelay, now: Now) -> None:
        relay.forward_up(b"x", ("127.0.0.1", 40000))
        assert not relay.sessions and relay.upstream_errors == 1

    run_relay(Fds(0), body)
