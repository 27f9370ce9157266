"""Upstream HTTP/1.1 connections: an asyncio Protocol per connection, a keep-alive pool per origin.

`Exchange` is one request/response on a connection: `await exchange.response()` gives the head,
`await exchange.next_event()` the body pieces. Reading pauses while more than `HIGH_WATER_BYTES` are
queued, so a slow client slows the upstream instead of filling memory; a request body passed through
waits in `drain()` while the upstream does not take it (the transport's write buffer is full).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections import deque
from collections.abc import Callable

from services.common.http1 import (
    Data,
    EndOfMessage,
    HTTPError,
    Request,
    Response,
    ResponseParser,
    keep_alive,
)

FD_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# Servers close idle keep-alive connections after a few seconds (Node 5 s, Apache 5 s): a request sent as
# that happens is lost or, worse, processed and then retried. Not reusing connections idle this long keeps
# the proxy out of that race window.
IDLE_TIMEOUT_S = 4.0
HIGH_WATER_BYTES = 256 * 1024
LOW_WATER_BYTES = 64 * 1024


class UpstreamError(Exception):
    """The upstream failed: `status` is what the client gets (502 unreachable/bad framing, 504 timeout)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


class _Wakeup:
    """One task waiting, with a deadline, for what the protocol's callbacks report (`fire`)."""

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None

    def fire(self) -> None:
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)

    async def wait(self, timeout_s: float | None, reason: str) -> None:
        """Until `fire`; UpstreamError(504, `reason`) after `timeout_s` (None: no deadline)."""
        self._future = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout_s):
                await self._future
        except TimeoutError:
            raise UpstreamError(504, reason) from None
        finally:
            self._future = None


class UpstreamConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = ResponseParser()
        self.events: deque[Response | Data | EndOfMessage | Exception] = deque()
        self.queued_bytes = 0
        self.readable = _Wakeup()  # an event was queued
        self.closed = False
        self.paused = False
        self.spoiled = False  # a request body was cut short: the upstream may still wait for the rest
        self.idle_since = 0.0
        self.write_paused = False
        self.writable = _Wakeup()  # the upstream takes what is written again

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        self._pump()

    def eof_received(self) -> bool:
        self.parser.feed_eof()
        self._pump()
        self._push(UpstreamError(502, "upstream closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._push(UpstreamError(502, "upstream connection lost"))
        self.resume_writing()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self.writable.fire()

    async def drain(self, timeout_s: float) -> None:
        """Wait while the upstream does not take what was written (504 after `timeout_s` without
        progress, 502 once the connection is gone)."""
        while self.write_paused and not self.closed:
            await self.writable.wait(timeout_s, "upstream does not read the request body")
        if self.closed:
            raise UpstreamError(502, "upstream connection lost")

    def _pump(self) -> None:
        try:
            while (event := self.parser.next_event()) is not None:
                assert not isinstance(event, Request)  # 1xx heads are queued too (the exchange forwards them)
                if isinstance(event, Data):
                    self.queued_bytes += len(event.data)
                self._push(event)
        except HTTPError as exc:
            self._push(UpstreamError(502, exc.message))
        if self.queued_bytes > HIGH_WATER_BYTES and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def _push(self, item: Response | Data | EndOfMessage | Exception) -> None:
        self.events.append(item)
        self.readable.fire()

    async def next_event(self, timeout_s: float | None) -> Response | Data | EndOfMessage:
        while not self.events:
            await self.readable.wait(timeout_s, "upstream timed out")
        item = self.events.popleft()
        if isinstance(item, Exception):
            self.events.appendleft(item)
            raise item
        if isinstance(item, Data):
            self.queued_bytes -= len(item.data)
            if self.paused and self.queued_bytes < LOW_WATER_BYTES and self.transport is not None:
                self.paused = False
                self.transport.resume_reading()
        return item

    def send(self, method: str, data: bytes, body: bytes = b"") -> None:
        """Write one request: `data` (the head, or head and body), then `body` unjoined (no copy of a
        large body just to prepend its head)."""
        assert self.transport is not None
        self.events.clear()
        self.parser.expect(method)
        self.transport.write(data)
        if body:
            self.transport.write(body)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Idle keep-alive connections per (host, port); hostnames resolved at each connect."""

    def __init__(self, *, connect_timeout_s: float = 5.0, max_idle_per_origin: int = 32,
                 on_exhausted: Callable[[str, BaseException], None] | None = None,
                 idle_timeout_s: float = IDLE_TIMEOUT_S, clock: Callable[[], float] = time.monotonic) -> None:
        """`on_exhausted(where, exc)`: told when a connect fails for lack of file descriptors;
        `idle_timeout_s`: a pooled connection idle longer is closed instead of reused (see IDLE_TIMEOUT_S)."""
        self.on_exhausted = on_exhausted
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.max_idle = max_idle_per_origin
        self.idle: dict[tuple[str, int], list[UpstreamConnection]] = {}
        self.connects = 0
        self.reuses = 0

    async def acquire(self, origin: tuple[str, int]) -> tuple[UpstreamConnection, bool]:
        """A connection to `origin` and whether it was reused from the pool."""
        idle = self.idle.get(origin)
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.events and self.clock() - conn.idle_since < self.idle_timeout_s:
                self.reuses += 1
                return conn, True
            conn.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(UpstreamConnection, origin[0], origin[1])
        except TimeoutError:
            raise UpstreamError(504, f"connect to {origin[0]}:{origin[1]} timed out") from None
        except OSError as exc:
            if exc.errno in FD_EXHAUSTED:  # our own exhaustion, not the upstream's fault: 503
                if self.on_exhausted is not None:
                    self.on_exhausted("upstream", exc)
                raise UpstreamError(503, "proxy out of file descriptors") from None
            raise UpstreamError(502, f"cannot connect to {origin[0]}:{origin[1]}: {exc}") from None
        self.connects += 1
        return conn, False

    def release(self, origin: tuple[str, int], conn: UpstreamConnection, response: Response) -> None:
        """Return a connection whose exchange is complete; kept only if the response allows it."""
        idle = self.idle.setdefault(origin, [])
        if conn.closed or conn.spoiled or conn.events or not keep_alive(response.version, response.headers) \
                or len(idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = self.clock()
        idle.append(conn)

    def sweep(self) -> int:
        """Close the pooled connections idle past `idle_timeout_s` (never reused any more) now, not at the
        next `acquire` for their origin, so what a burst left in the pool goes with it; how many."""
        now, closed = self.clock(), 0
        for origin, conns in list(self.idle.items()):
            keep = [c for c in conns if not c.closed and now - c.idle_since < self.idle_timeout_s]
            for conn in conns:
                if conn not in keep:
                    conn.close()
                    closed += 1
            if keep:
                self.idle[origin] = keep
            else:
                del self.idle[origin]
        return closed

    def close(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.idle.clear()
