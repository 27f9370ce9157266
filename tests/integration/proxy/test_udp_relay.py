"""The UDP relay between many clients and an echo on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from services.proxy.udp_relay import UdpRelay


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)


class Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)


def test_many_clients_get_their_own_replies_and_sessions_expire() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        echo_t, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        echo_port = echo_t.get_extra_info("sockname")[1]
        relay = UdpRelay(("127.0.0.1", echo_port), idle_timeout_s=0.5, max_sessions=1000)
        relay_addr = await relay.start(("127.0.0.1", 0))
        clients = []
        try:
            for i in range(50):
                transport, proto = await loop.create_datagram_endpoint(Client, remote_addr=relay_addr)
                clients.append((i, transport, proto))
            for round_ in range(1, 21):  # one datagram per client in flight: no loss from full buffers
                for i, transport, _proto in clients:
                    transport.sendto(f"c{i}".encode())
                async with asyncio.timeout(5):
                    while any(len(p.received) < round_ for _, _, p in clients):
                        await asyncio.sleep(0.002)
            assert all(set(p.received) == {f"c{i}".encode()} for i, _, p in clients)
            assert len(relay.sessions) == 50
            assert sum(s.stats.packets_down for s in relay.sessions.values()) == 1000
            assert relay.packets_up_total == relay.packets_down_total == 1000
            assert relay.expire(relay.clock() + 10) == 50 and not relay.sessions
        finally:
            for _, transport, _ in clients:
                transport.close()
            relay.close()
            echo_t.close()

    asyncio.run(main())


def test_session_table_is_bounded() -> None:
    async def main() -> None:
        relay = UdpRelay(("127.0.0.1", 9), max_sessions=4)
        await relay.start(("127.0.0.1", 0))
        await relay.ready()  # upstream address resolved (no sleep: waits for the lookup itself)
        for port in range(10):
            relay.forward_up(b"x", ("127.0.0.1", 40000 + port))
        assert len(relay.sessions) == 4 and relay.sessions_evicted == 6
        relay.close()

    asyncio.run(main())


def test_a_client_that_never_reads_does_not_stall_the_others() -> None:
    """One client floods and never reads its replies; another still gets every reply, with no queue."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        echo_t, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        relay = UdpRelay(("127.0.0.1", echo_t.get_extra_info("sockname")[1]), batch=8)
        relay_addr = await relay.start(("127.0.0.1", 0))
        hog = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.connect(relay_addr)
        hog.setblocking(False)
        good_t, good = await loop.create_datagram_endpoint(Client, remote_addr=relay_addr)
        for i in range(400):
            with contextlib.suppress(BlockingIOError):
                hog.send(b"h" * 512)
            if i % 20 == 0:
                good_t.sendto(f"g{i}".encode())
                await asyncio.sleep(0.002)
        for _ in range(100):
            if len(good.received) >= 20 and relay.packets_down_total >= 420:
                break
            await asyncio.sleep(0.01)
        assert good.received == [f"g{i}".encode() for i in range(0, 400, 20)]
        hog_session = relay.sessions[hog.getsockname()]
        assert hog_session.stats.packets_down == hog_session.stats.packets_up == 400, relay.stats()
        assert len(relay.sessions) == 2
        hog.close()
        good_t.close()
        relay.close()
        echo_t.close()

    asyncio.run(main())


def test_datagrams_before_the_upstream_is_resolved_are_parked_then_relayed() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        echo_t, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        relay = UdpRelay(("localhost", echo_t.get_extra_info("sockname")[1]))
        relay_addr = await relay.start(("127.0.0.1", 0))
        relay._upstream_addr = None  # as if the first resolution had not finished yet
        client_t, client = await loop.create_datagram_endpoint(Client, remote_addr=relay_addr)
        for i in range(3):
            client_t.sendto(bytes([i]))
        async with asyncio.timeout(5):
            while len(client.received) < 3:
                await asyncio.sleep(0.01)
        assert sorted(client.received) == [b"\x00", b"\x01", b"\x02"]
        assert relay.stats()["packets_up_total"] == 3
        client_t.close()
        relay.close()
        relay.close()  # idempotent
        echo_t.close()

    asyncio.run(main())
