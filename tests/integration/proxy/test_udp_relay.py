"""The UDP relay between many clients and an echo on 127.0.0.1, on its own loop (stepped by the test)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator

import pytest

from services.proxy import udp_mmsg
from services.proxy.udp_loop import EpollLoop
from services.proxy.udp_relay import SETTLE_READS, UdpRelay

BATCHED = [False, True] if udp_mmsg.available() else [False]


class Echo:
    """A UDP echo served by the test's own loop."""

    def __init__(self, loop: EpollLoop) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.address = self.sock.getsockname()
        self.seen = 0
        loop.add_reader(self.sock.fileno(), self._echo)

    def _echo(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                data, peer = self.sock.recvfrom(65535)
                self.seen += 1
                self.sock.sendto(data, peer)


def client(relay_addr: tuple[str, int], rcvbuf: int = 1 << 20) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.connect(relay_addr)
    sock.setblocking(False)
    return sock


def received(sock: socket.socket) -> list[bytes]:
    out = []
    with contextlib.suppress(BlockingIOError):
        while True:
            out.append(sock.recv(65535))
    return out


@pytest.fixture
def stack(request: pytest.FixtureRequest) -> Iterator[Callable[..., tuple[EpollLoop, UdpRelay, Echo]]]:
    made: list[tuple[EpollLoop, UdpRelay, Echo]] = []

    def make(**kwargs: object) -> tuple[EpollLoop, UdpRelay, Echo]:
        loop = EpollLoop()
        echo = Echo(loop)
        relay = UdpRelay(echo.address, **kwargs)  # type: ignore[arg-type]
        relay.start(loop, ("127.0.0.1", 0))
        made.append((loop, relay, echo))
        return loop, relay, echo

    yield make
    for loop, relay, echo in made:
        relay.close()
        echo.sock.close()
        loop.close()


@pytest.mark.parametrize("batched", BATCHED)
@pytest.mark.parametrize("reply_sockets", [0, 7, 64])
def test_many_clients_get_their_own_replies_and_sessions_expire(
        stack: Callable[..., tuple[EpollLoop, UdpRelay, Echo]], batched: bool, reply_sockets: int) -> None:
    """50 clients, 20 rounds each: with no reply sockets (every session on the shared socket), with some
    (the rest share the port's socket beside connected ones) and with one per session."""
    loop, relay, _ = stack(idle_timeout_s=0.5, max_sessions=1000, batched=batched,
                           reply_sockets=reply_sockets)
    assert relay.sock is not None
    clients = [client(relay.sock.getsockname()) for _ in range(50)]
    got: list[list[bytes]] = [[] for _ in clients]
    try:
        for round_ in range(1, 21):  # one datagram per client in flight: no loss from full buffers
            for i, sock in enumerate(clients):
                sock.send(f"c{i}".encode())

            def all_back(want: int = round_) -> bool:
                for i, sock in enumerate(clients):
                    got[i] += received(sock)
                return all(len(g) >= want for g in got)

            assert loop.run_until(all_back, 5.0)
        assert all(g == [f"c{i}".encode()] * 20 for i, g in enumerate(got))
        assert len(relay.sessions) == 50
        replying = [s for s in relay.sessions.values() if s.reply is not None]
        assert len(replying) == min(reply_sockets, 50)
        assert all(s.up_generation >= 0 for s in replying)  # their clients' datagrams came through them
        assert sum(s.packets_down for s in relay.sessions.values()) == 1000
        assert relay.packets_up_total == relay.packets_down_total == 1000
        assert relay.expire(loop.clock() + 10) == 50 and not relay.sessions
    finally:
        for sock in clients:
            sock.close()


@pytest.mark.parametrize("batched", BATCHED)
def test_a_backlog_is_relayed_in_order_and_counted_exactly(
        stack: Callable[..., tuple[EpollLoop, UdpRelay, Echo]], batched: bool) -> None:
    """Three clients queue 300 datagrams each before the relay runs: the relay reads them as a backlog
    (batches that mix the clients), each client gets its own back in the order sent, and every counter
    is exact (datagrams and bytes, per session and in total)."""
    loop, relay, echo = stack(batched=batched, batch=16)
    assert relay.sock is not None
    batches: list[int] = []
    if relay._ring is not None:  # record what each recvmmsg read: the batch path must be the one taken
        ring, recv = relay._ring, relay._ring.recv_clients

        def spy(fd: int) -> int:
            batches.append(recv(fd))
            return batches[-1]

        ring.recv_clients = spy  # type: ignore[method-assign]
    clients = [client(relay.sock.getsockname(), rcvbuf=4 << 20) for _ in range(3)]
    sent = [[f"{i}:{k}:".encode().ljust((k * 37) % 1400, b"x") for k in range(300)] for i in range(3)]
    try:
        for k in range(300):
            for i, sock in enumerate(clients):
                sock.send(sent[i][k])
        got: list[list[bytes]] = [[] for _ in clients]

        def all_back() -> bool:
            for i, sock in enumerate(clients):
                got[i] += received(sock)
            return all(len(g) >= 300 for g in got)

        assert loop.run_until(all_back, 10.0)
        assert got == sent
        assert (max(batches) > 1) if batched else not batches
        assert echo.seen == 900 and relay.dropped == 0
        assert relay.packets_up_total == relay.packets_down_total == 900
        for i, sock in enumerate(clients):
            session = relay.sessions[sock.getsockname()]
            assert session.packets_up == session.packets_down == 300
            assert session.bytes_up == session.bytes_down == sum(map(len, sent[i]))
    finally:
        for sock in clients:
            sock.close()


@pytest.mark.parametrize("batched", BATCHED)
def test_a_reply_socket_is_read_once_the_shared_socket_was_emptied(
        stack: Callable[..., tuple[EpollLoop, UdpRelay, Echo]], batched: bool) -> None:
    """A new client's datagrams queued on the shared socket go first (in order), and its reply socket is
    read from then on even when the last of them emptied the shared socket at the settle's read limit."""
    loop, relay, _ = stack(batched=batched)
    assert relay.sock is not None
    sock = client(relay.sock.getsockname(), rcvbuf=4 << 20)
    first = [b"%d" % k for k in range(SETTLE_READS + 1)]  # one opens the session, the limit empties it
    got: list[bytes] = []
    try:
        for data in first:
            sock.send(data)

        def back(want: int) -> Callable[[], bool]:
            def enough() -> bool:
                got.extend(received(sock))
                return len(got) >= want
            return enough

        assert loop.run_until(back(len(first)), 5.0)
        session = relay.sessions[sock.getsockname()]
        assert session.reply is not None
        sock.send(b"after")  # arrives on the reply socket, the shared one being empty now
        assert loop.run_until(back(len(first) + 1), 5.0), relay.stats()
        assert got == [*first, b"after"]
        assert session.packets_up == session.packets_down == len(first) + 1
    finally:
        sock.close()


def test_session_table_is_bounded(stack: Callable[..., tuple[EpollLoop, UdpRelay, Echo]]) -> None:
    _, relay, _ = stack(max_sessions=4)
    assert relay.resolved  # an address literal: known at start, nothing to wait for
    for port in range(10):
        relay.forward_up(b"x", ("127.0.0.1", 40000 + port))
    assert len(relay.sessions) == 4 and relay.sessions_evicted == 6
    assert len(relay._by_name) == 4


@pytest.mark.parametrize("batched", BATCHED)
def test_a_client_that_never_reads_does_not_stall_the_others(
        stack: Callable[..., tuple[EpollLoop, UdpRelay, Echo]], batched: bool) -> None:
    """One client floods and never reads its replies; another still gets every reply, with no queue."""
    loop, relay, _ = stack(batch=8, batched=batched)
    assert relay.sock is not None
    hog = client(relay.sock.getsockname(), rcvbuf=4096)
    good = client(relay.sock.getsockname())
    good_got: list[bytes] = []
    try:
        for i in range(400):
            with contextlib.suppress(BlockingIOError):
                hog.send(b"h" * 512)
            if i % 20 == 0:
                good.send(f"g{i}".encode())
                loop.run_once(0.002)

        def done() -> bool:
            good_got.extend(received(good))
            return len(good_got) >= 20 and relay.packets_down_total >= 420

        assert loop.run_until(done, 5.0), relay.stats()
        assert good_got == [f"g{i}".encode() for i in range(0, 400, 20)]
        hog_session = relay.sessions[hog.getsockname()]
        assert hog_session.packets_down == hog_session.packets_up == 400, relay.stats()
        assert len(relay.sessions) == 2
    finally:
        hog.close()
        good.close()


def test_datagrams_before_the_upstream_is_resolved_are_parked_then_relayed() -> None:
    loop = EpollLoop()
    echo = Echo(loop)
    relay = UdpRelay(("localhost", echo.address[1]))  # a name: looked up in a thread, answered via the loop
    relay.start(loop, ("127.0.0.1", 0))
    assert relay.sock is not None
    sock = client(relay.sock.getsockname())
    try:
        relay._upstream_addr = None  # as if the first resolution had not finished yet
        for i in range(3):
            sock.send(bytes([i]))
        got: list[bytes] = []

        def back() -> bool:
            got.extend(received(sock))
            return len(got) >= 3

        assert loop.run_until(back, 5.0)
        assert sorted(got) == [b"\x00", b"\x01", b"\x02"]
        assert relay.stats()["packets_up_total"] == 3
    finally:
        sock.close()
        relay.close()
        relay.close()  # idempotent
        echo.sock.close()
        loop.close()
