"""The UDP relay between many clients and an echo on 127.0.0.1."""

from __future__ import annotations

import asyncio
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
        relay_t, _ = await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
        relay_addr = relay_t.get_extra_info("sockname")
        clients = []
        for i in range(50):
            transport, proto = await loop.create_datagram_endpoint(Client, remote_addr=relay_addr)
            clients.append((i, transport, proto))
        for _ in range(20):
            for i, transport, _proto in clients:
                transport.sendto(f"c{i}".encode())
            await asyncio.sleep(0.005)
        async with asyncio.timeout(5):
            while any(len(p.received) < 20 for _, _, p in clients):
                await asyncio.sleep(0.02)
        assert all(set(p.received) == {f"c{i}".encode()} for i, _, p in clients)
        assert len(relay.sessions) == 50
        assert sum(s.stats.packets_down for s in relay.sessions.values()) == 1000
        assert relay.expire(relay.clock() + 10) == 50 and not relay.sessions
        for _, transport, _ in clients:
            transport.close()
        relay.close()
        echo_t.close()

    asyncio.run(main())


def test_session_table_is_bounded() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        relay = UdpRelay(("127.0.0.1", 9), max_sessions=4)
        await loop.create_datagram_endpoint(lambda: relay, local_addr=("127.0.0.1", 0))
        for port in range(10):
            relay.datagram_received(b"x", ("127.0.0.1", 40000 + port))
        assert len(relay.sessions) == 4 and relay.sessions_evicted == 6
        await asyncio.sleep(0.05)
        relay.close()

    asyncio.run(main())
