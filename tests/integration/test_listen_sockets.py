"""`services.common.listen` with real sockets on loopback: one port for both families, reachable over
each; on a host without IPv6 `any` keeps IPv4 and an explicit `::1` is an error naming it."""

from __future__ import annotations

import errno
import socket

import pytest

from services.common.listen import format_addresses, open_sockets, parse_bind
from services.proxy.udp_session import bind_shared

from .test_ipv6_loopback import V6


def test_both_loopbacks_share_one_port_and_each_answers_its_own_family() -> None:
    if not V6:
        with pytest.raises(OSError, match=r"\[::1\]"):
            open_sockets(parse_bind("127.0.0.1,::1"), 0, socket.SOCK_STREAM)
        return
    done = open_sockets(parse_bind("127.0.0.1,::1"), 0, socket.SOCK_STREAM)
    try:
        v4, v6 = done.sockets
        port = v4.getsockname()[1]
        assert v6.getsockname()[1] == port
        assert format_addresses(done.sockets) == f"127.0.0.1:{port},[::1]:{port}"
        for host, listener in (("127.0.0.1", v4), ("::1", v6)):
            with socket.create_connection((host, port), timeout=5):
                listener.setblocking(True)
                listener.settimeout(5)
                accepted, peer = listener.accept()
                accepted.close()
                assert peer[0] == host  # an IPv4 client is never seen as ::ffff:127.0.0.1
    finally:
        done.close()


def test_udp_any_binds_both_wildcards_or_notes_the_missing_family() -> None:
    done = open_sockets(parse_bind("any"), 0, socket.SOCK_DGRAM)
    try:
        families = [sock.family for sock in done.sockets]
        if V6:
            assert families == [socket.AF_INET, socket.AF_INET6] and done.skipped == []
            port = done.sockets[0].getsockname()[1]
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as client:
                client.sendto(b"x", ("::1", port))
                done.sockets[1].settimeout(5)
                data, peer = done.sockets[1].recvfrom(16)
            assert data == b"x" and peer[0] == "::1"
        else:
            assert families == [socket.AF_INET] and [a for a, _ in done.skipped] == ["::"]
    finally:
        done.close()


def test_the_relays_sockets_take_one_port_in_both_families_and_a_taken_port_in_either_is_refused() -> None:
    """`udp_session.bind_shared`: N SO_REUSEPORT sockets per address (the relay processes and the
    sessions' reply sockets share the port), one port for IPv4 and IPv6, each IPv6 socket V6ONLY; a port
    another socket holds in either family is EADDRINUSE, as without SO_REUSEPORT."""
    if not V6:
        with pytest.raises(OSError, match=r"\[::1\]"):
            bind_shared("127.0.0.1,::1", 0, 2)
        return
    socks = bind_shared("127.0.0.1,::1", 0, 2)
    try:
        assert [s.family for s in socks] == [socket.AF_INET, socket.AF_INET6] * 2
        assert len({s.getsockname()[1] for s in socks}) == 1
        assert all(s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) for s in socks)
        assert all(s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) for s in socks[1::2])
        port = socks[0].getsockname()[1]
        with pytest.raises(OSError) as refused:
            bind_shared("::1", port, 1)
        assert refused.value.errno == errno.EADDRINUSE
    finally:
        for sock in socks:
            sock.close()
