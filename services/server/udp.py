"""UDP echo: probes come back stamped with receive/send wall-clock times, anything else unchanged."""

from __future__ import annotations

import asyncio
from typing import cast

from services.common.clock import Clock
from services.common.probe import is_probe, stamp_reply

from .probe_counts import ProbeCounts
from .stats import Stats


class UdpEcho(asyncio.DatagramProtocol):
    """Never queues behind a slow client: while the socket buffer is full, replies are dropped (counted)."""

    def __init__(self, stats: Stats, clock: Clock) -> None:
        self.stats = stats
        self.clock = clock
        self.transport: asyncio.DatagramTransport | None = None
        self.paused = False
        self.counts = ProbeCounts()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        recv_ns = self.clock.wall_ns()
        stats = self.stats
        stats.udp_datagrams += 1
        stats.udp_bytes += len(data)
        if is_probe(data):
            stats.udp_probes += 1
            seen = self.counts.count(int.from_bytes(data[8:12], "big"))
            data = stamp_reply(data, recv_ns, self.clock.wall_ns(), count=seen)
        if self.paused or self.transport is None:
            stats.udp_dropped += 1
            return
        try:
            self.transport.sendto(data, addr)
        except OSError:
            stats.udp_errors += 1

    def error_received(self, exc: Exception) -> None:
        self.stats.udp_errors += 1

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
