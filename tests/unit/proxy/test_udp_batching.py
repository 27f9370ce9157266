"""The relay's batched path, pure parts: raw sender addresses ⇄ Python addresses, and how a run of
datagrams the kernel takes only in part is counted (each refused datagram once, as a drop or an error)."""

from __future__ import annotations

import errno
import socket

import pytest

from services.proxy.udp_relay import UdpRelay
from services.proxy.udp_session import address_of, name_of, sockaddr_len


@pytest.mark.parametrize(("family", "addr"), [
    (socket.AF_INET, ("127.0.0.1", 40000)),
    (socket.AF_INET, ("192.0.2.7", 1)),
    (socket.AF_INET6, ("::1", 65535, 0, 0)),
    (socket.AF_INET6, ("fe80::1", 4433, 0x12345, 3)),
    (socket.AF_INET6, ("::ffff:192.0.2.7", 4433, 0, 0)),
])
def test_raw_sender_addresses_round_trip(family: int, addr: tuple[object, ...]) -> None:
    name = name_of(addr, family)
    assert len(name) == sockaddr_len(family)
    assert address_of(name) == addr


def test_an_ipv4_client_of_a_dual_stack_socket_is_a_mapped_address() -> None:
    name = name_of(("10.0.0.1", 5), socket.AF_INET6)
    assert address_of(name) == ("::ffff:10.0.0.1", 5, 0, 0)


class Kernel:
    """A `sendmmsg` that takes what the script says: a count (≥ 1) or -errno, call by call."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[int, int]] = []

    def __call__(self, _fd: int, start: int, count: int) -> int:
        self.calls.append((start, count))
        answer = self.answers.pop(0)
        return min(answer, count) if answer > 0 else answer


@pytest.mark.parametrize(("answers", "calls", "dropped", "errors"), [
    ((10,), [(0, 10)], 0, 0),  # all at once
    ((4, 6), [(0, 10), (4, 6)], 0, 0),  # the kernel took 4, then the rest
    ((3, -errno.EAGAIN, 6), [(0, 10), (3, 7), (4, 6)], 1, 0),  # a full buffer drops one datagram
    ((-errno.ECONNREFUSED, -errno.EAGAIN, 8), [(0, 10), (1, 9), (2, 8)], 1, 1),  # an error is one datagram
    ((-errno.EAGAIN,) * 10, [(k, 10 - k) for k in range(10)], 10, 0),  # nothing went: all dropped
])
def test_a_partly_taken_run_counts_each_refused_datagram_once(
        answers: tuple[int, ...], calls: list[tuple[int, int]], dropped: int, errors: int) -> None:
    relay = UdpRelay(("127.0.0.1", 9))
    kernel = Kernel(*answers)
    relay._send_run(kernel, 3, None, 0, 10, upstream=True)
    assert kernel.calls == calls
    assert (relay.dropped, relay.upstream_errors, relay.client_errors) == (dropped, errors, 0)
