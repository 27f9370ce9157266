"""Latency probes that run through every phase: UDP probes (the `qos` wire format, recorder and
collector) and the draft's foreign probes (a small GET on a fresh TCP connection).

Both run on the event loop beside the load, so they see the queues the load builds. Addresses are
resolved once before the test, so a foreign probe's connect time holds no DNS lookup.
"""

from __future__ import annotations

import asyncio
import random
import time

from services.client.family import first_address
from services.client.httpc import USER_AGENT, Target, error_kind
from services.client.qos.config import QosConfig
from services.client.qos.engine import Collector, open_socket
from services.client.qos.records import Recorder
from services.client.responsiveness.records import ForeignProbe
from services.common import probe
from services.common.http1 import EndOfMessage, HTTPError, Response, ResponseParser, build_request_head

READ_BYTES = 1 << 16


class UdpProber:
    """One probe every `interval_s` on the loop's clock; replies are read (kernel-stamped) as they come."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int, interval_s: float,
                 size: int, recorder: Recorder, rng: random.Random, family: str = "auto") -> None:
        self.loop = loop
        self.interval_s = interval_s
        self.recorder = recorder
        self.test_id = rng.getrandbits(32)
        self.config = QosConfig(host=host, port=port, interval_s=interval_s, size=size,
                                family=family).validate()
        self.sock, kernel = open_socket(self.config)
        recorder.kernel_timestamps = kernel
        self.collector = Collector(self.sock, recorder, self.test_id, kernel_timestamps=kernel)
        self.size = size
        self._handle: asyncio.TimerHandle | None = None
        self._start = 0.0
        self._count = 0

    def start(self) -> None:
        self.loop.add_reader(self.sock.fileno(), self.collector.drain)
        self._start = self.loop.time()
        self._send()

    def _send(self) -> None:
        sends = self.recorder.sends
        seq = len(sends.mono_ns)
        wall = time.time_ns()
        sends.sched_mono_ns.append(int((self._start + self._count * self.interval_s) * 1e9))
        sends.wall_ns.append(wall)
        sends.mono_ns.append(time.monotonic_ns())
        try:
            self.sock.send(probe.encode(probe.Probe(self.test_id, seq, wall), self.size))
        except OSError:
            sends.errors += 1
        self._count += 1
        self._handle = self.loop.call_at(self._start + self._count * self.interval_s, self._send)

    def stop_sending(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def close(self) -> None:
        self.stop_sending()
        self.collector.drain()
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


def resolve(host: str, port: int, family: str = "auto") -> tuple[str, int]:
    """The first address of host:port over `family` (resolved once, before the test)."""
    return first_address(host, port, family)[0], port


async def foreign_probe(address: tuple[str, int], target: Target, timeout_s: float) -> ForeignProbe:
    """Connect (tcp_f), GET the small object, read the whole response (http_f); never raises."""
    start = time.monotonic_ns()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout_s)
    except (TimeoutError, OSError) as exc:
        return ForeignProbe(start, -1, -1, 0, _kind(exc))
    connected = time.monotonic_ns()
    try:
        head = build_request_head("GET", target.request_target, [
            ("Host", target.host_header), ("User-Agent", USER_AGENT), ("Connection", "close")])
        writer.write(head)
        sent = time.monotonic_ns()
        status = await asyncio.wait_for(_read_response(reader), timeout_s)
        return ForeignProbe(start, connected - start, time.monotonic_ns() - sent, status)
    except (TimeoutError, OSError, HTTPError, EOFError) as exc:
        return ForeignProbe(start, connected - start, -1, 0, _kind(exc))
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader) -> int:
    parser = ResponseParser()
    parser.expect("GET")
    status = 0
    while True:
        event = parser.next_event()
        if event is None:
            data = await reader.read(READ_BYTES)
            if data:
                parser.feed(data)
            elif status:
                parser.feed_eof()
            else:
                raise EOFError("closed before a response")
        elif isinstance(event, Response) and event.status >= 200:
            status = event.status
        elif isinstance(event, EndOfMessage) and status:
            return status


def _kind(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return error_kind(exc)
    return "protocol" if isinstance(exc, HTTPError) else "closed"
