"""UDP relay: datagrams from each client go out through that client's own upstream socket, replies come
back to the right client. One asyncio datagram endpoint per session, a bounded session table with idle
expiry, counters per session. No threads; a client that stops reading only fills its own socket buffer.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from services.common import log

Address = tuple[Any, ...]


@dataclass(slots=True)
class SessionStats:
    packets_up: int = 0
    packets_down: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    created_mono: float = field(default_factory=time.monotonic)
    last_mono: float = field(default_factory=time.monotonic)


class _UpstreamProtocol(asyncio.DatagramProtocol):
    """The upstream side of one session: replies go back to the session's client."""

    def __init__(self, relay: UdpRelay, client: Address, stats: SessionStats) -> None:
        self.relay = relay
        self.client = client
        self.stats = stats
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        stats = self.stats
        stats.packets_down += 1
        stats.bytes_down += len(data)
        stats.last_mono = self.relay.clock()
        self.relay.send_to_client(data, self.client)

    def error_received(self, exc: Exception) -> None:
        self.relay.upstream_errors += 1


@dataclass(slots=True)
class Session:
    protocol: _UpstreamProtocol
    stats: SessionStats
    pending: list[bytes] = field(default_factory=list)


class UdpRelay(asyncio.DatagramProtocol):
    """The client-facing socket of the relay."""

    def __init__(self, upstream: tuple[str, int], *, max_sessions: int = 4096, idle_timeout_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.upstream = upstream
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.sessions: OrderedDict[Address, Session] = OrderedDict()
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream_errors = 0
        self.sessions_expired = 0
        self.sessions_evicted = 0
        self.dropped = 0
        self._upstream_addr: tuple[str, int] | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self._schedule_sweep()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        session = self.sessions.get(addr)
        if session is None:
            session = self._open(addr)
        stats = session.stats
        stats.packets_up += 1
        stats.bytes_up += len(data)
        stats.last_mono = self.clock()
        transport = session.protocol.transport
        if transport is None:
            if len(session.pending) < 64:
                session.pending.append(data)
            else:
                self.dropped += 1
            return
        transport.sendto(data)

    def send_to_client(self, data: bytes, client: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, client)

    def _open(self, client: Address) -> Session:
        while len(self.sessions) >= self.max_sessions:
            _, oldest = self.sessions.popitem(last=False)
            self._close(oldest)
            self.sessions_evicted += 1
        stats = SessionStats(created_mono=self.clock(), last_mono=self.clock())
        session = Session(_UpstreamProtocol(self, client, stats), stats)
        self.sessions[client] = session
        asyncio.get_running_loop().create_task(self._connect(client, session))
        return session

    async def _connect(self, client: Address, session: Session) -> None:
        loop = asyncio.get_running_loop()
        try:
            addr = await self._resolve(loop)
            await loop.create_datagram_endpoint(lambda: session.protocol, remote_addr=addr)
        except OSError as exc:
            self.upstream_errors += 1
            log.event("proxy.udp_upstream_error", client=_fmt(client), error=str(exc))
            self.sessions.pop(client, None)
            return
        if self.sessions.get(client) is not session:
            self._close(session)
            return
        transport = session.protocol.transport
        assert transport is not None
        for data in session.pending:
            transport.sendto(data)
        session.pending.clear()

    async def _resolve(self, loop: asyncio.AbstractEventLoop) -> tuple[str, int]:
        host, port = self.upstream
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        _, _, _, _, sockaddr = infos[0]
        return str(sockaddr[0]), int(sockaddr[1])

    def _close(self, session: Session) -> None:
        if session.protocol.transport is not None:
            session.protocol.transport.close()

    def _schedule_sweep(self) -> None:
        loop = asyncio.get_running_loop()
        interval = max(0.05, min(self.idle_timeout_s / 4, 5.0))
        self._sweeper = loop.call_later(interval, self._sweep)

    def _sweep(self) -> None:
        self.expire(self.clock())
        if self.transport is not None and not self.transport.is_closing():
            self._schedule_sweep()

    def expire(self, now: float) -> int:
        """Close sessions idle for longer than the timeout; returns how many."""
        idle = [addr for addr, s in self.sessions.items() if now - s.stats.last_mono > self.idle_timeout_s]
        for addr in idle:
            self._close(self.sessions.pop(addr))
        self.sessions_expired += len(idle)
        return len(idle)

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for session in self.sessions.values():
            self._close(session)
        self.sessions.clear()
        if self.transport is not None:
            self.transport.close()

    def stats(self) -> dict[str, Any]:
        totals = SessionStats()
        for session in self.sessions.values():
            totals.packets_up += session.stats.packets_up
            totals.packets_down += session.stats.packets_down
        return {"sessions": len(self.sessions), "sessions_expired": self.sessions_expired,
                "sessions_evicted": self.sessions_evicted, "upstream_errors": self.upstream_errors,
                "packets_up_active": totals.packets_up, "packets_down_active": totals.packets_down,
                "dropped": self.dropped,
                "per_session": [{"client": _fmt(addr), "packets_up": s.stats.packets_up,
                                 "packets_down": s.stats.packets_down, "bytes_up": s.stats.bytes_up,
                                 "bytes_down": s.stats.bytes_down}
                                for addr, s in list(self.sessions.items())[:100]]}


def _fmt(addr: Address) -> str:
    return f"{addr[0]}:{addr[1]}"
