"""The load generator's I/O: one asyncio Protocol per keep-alive connection, pre-built request bytes.

Closed loop (`rate_rps` None): every connection keeps `pipeline` requests in flight and sends the next one
when a response completes, until `requests` were issued or `duration_s` has passed. Latency = response
complete − request written.

Open loop (`rate_rps`): request k is *due* at start + k / rate and goes to connection k mod N; it is
written at once if that connection has fewer than `pipeline` in flight, else it waits in the connection's
backlog. Two latencies per request: *corrected* from its due time (what a user arriving on schedule would
see: queueing behind a slow response counts, no coordinated omission) and *uncorrected* from when it was
written (what a closed-loop tool reports).

Errors (per request): `refused`, `dns`, `timeout`, `reset`, `closed`, `protocol`, `connect`, `http_NNN`;
a broken connection is replaced. All timing on `time.monotonic_ns` (the loop's clock).
"""

from __future__ import annotations

import asyncio
import collections
import socket
import time
from collections.abc import Callable

from services.client.load.model import LoadPlan, LoadStats, error_kind
from services.client.load.reader import Reply, ReplyError, ReplyReader

RECONNECT_PAUSE_S = 0.01  # between failed connection attempts (a loop bound while the server is down)
WATCH_EVERY_S = 0.05  # timeout checks


RECV_BYTES = 1 << 16


class Connection(asyncio.BufferedProtocol):
    """One keep-alive connection: writes requests, matches responses to them in order.

    A BufferedProtocol: the transport reads into this connection's own buffer (`recv_into`), where a
    plain Protocol would get a fresh bytes object from `recv(256 KiB)` per read, an allocation (on Linux
    an mmap and munmap) per response.
    """

    def __init__(self, driver: Driver) -> None:
        self.driver = driver
        self.transport: asyncio.Transport | None = None
        self.reader = ReplyReader()
        self.inflight: collections.deque[tuple[int, int]] = collections.deque()  # (due_ns, sent_ns)
        self.backlog: collections.deque[int] = collections.deque()  # open loop: due times not yet sent
        self.failed = ""  # error kind once broken
        self._buffer = bytearray(RECV_BYTES)
        self._view = memoryview(self._buffer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, due_ns: list[int], now_ns: int) -> None:
        """Write one request per due time in one write."""
        assert self.transport is not None
        self.inflight.extend((due, now_ns) for due in due_ns)
        self.transport.write(self.driver.request if len(due_ns) == 1 else self.driver.request * len(due_ns))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        try:
            replies = self.reader.feed(data)
        except ReplyError:
            self.fail("protocol")
            return
        if replies:
            self.driver.on_replies(self, replies, time.monotonic_ns())

    def eof_received(self) -> bool | None:
        try:
            last = self.reader.feed_eof()
        except ReplyError:
            last = None
        if last is not None and self.inflight:
            self.driver.on_replies(self, [last], time.monotonic_ns())
        return None

    def fail(self, kind: str) -> None:
        if not self.failed:
            self.failed = kind
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.driver.on_lost(self, self.failed or error_kind(exc))


class Driver:
    """Issues requests by the plan and records every outcome; see the module doc."""

    def __init__(self, plan: LoadPlan, loop: asyncio.AbstractEventLoop,
                 progress: Callable[[LoadStats, float], None] | None = None) -> None:
        self.plan = plan
        self.request = plan.request
        self.loop = loop
        self.stats = LoadStats()
        self.open_loop = plan.rate_rps is not None
        self.progress = progress
        self.connections: list[Connection | None] = [None] * plan.connections
        self.pending: list[collections.deque[int]] = [collections.deque() for _ in range(plan.connections)]
        self.started_ns = 0
        self.deadline_ns = 0
        self.stopping = False  # no new requests
        self.done = loop.create_future()

    # --- budget -----------------------------------------------------------------------------------------
    def _may_issue(self, now_ns: int) -> bool:
        plan = self.plan
        if self.stopping:
            return False
        counted_out = plan.requests is not None and self.stats.issued >= plan.requests
        timed_out = plan.duration_s is not None and now_ns >= self.deadline_ns
        self.stopping = counted_out or timed_out
        return not self.stopping

    def _check_done(self) -> None:
        if self.stopping and not self.done.done() and not any(self.pending) and all(
                c is None or (not c.inflight and not c.backlog) for c in self.connections):
            self.done.set_result(None)

    # --- events -----------------------------------------------------------------------------------------
    def on_replies(self, conn: Connection, replies: list[Reply], now_ns: int) -> None:
        stats, latency, uncorrected = self.stats, self.stats.latency.record, self.stats.uncorrected.record
        for reply in replies:
            if not conn.inflight:
                conn.fail("protocol")  # a response nobody asked for
                return
            due, sent = conn.inflight.popleft()
            status = reply.status
            if status >= 400:
                stats.errors[f"http_{status}"] += 1
            else:
                latency(now_ns - due)
                if self.open_loop:
                    uncorrected(now_ns - sent)
                stats.body_bytes += reply.body_bytes
                stats.x_cache[reply.x_cache or "-"] += 1
            if reply.close:
                conn.fail("closed")
                return
        self._refill(conn, now_ns)

    def _refill(self, conn: Connection, now_ns: int) -> None:
        room = self.plan.pipeline - len(conn.inflight)
        if room <= 0 or conn.transport is None or conn.failed:
            if self.stopping:
                self._check_done()
            return
        if self.open_loop:
            due = [conn.backlog.popleft() for _ in range(min(room, len(conn.backlog)))]
        else:
            due = []
            while len(due) < room and self._may_issue(now_ns):
                self.stats.issued += 1
                due.append(now_ns)
        if due:
            conn.send(due, now_ns)
        if self.stopping:
            self._check_done()

    def on_lost(self, conn: Connection, kind: str) -> None:
        if conn.inflight:
            self.stats.errors[kind] += len(conn.inflight)
            conn.inflight.clear()
        index = self.connections.index(conn) if conn in self.connections else -1
        if index >= 0:
            self.connections[index] = None
            self.pending[index].extend(conn.backlog)
            conn.backlog.clear()
            if not self.stopping or self.pending[index]:  # replace it while there is work for it
                self.loop.create_task(self._connect(index))
        self._check_done()

    # --- tasks ------------------------------------------------------------------------------------------
    async def _connect(self, index: int) -> None:
        backlog = self.pending[index]  # open loop: due times handed to this slot while it had no connection
        while not self.done.done():
            if self.stopping and not backlog:
                self._check_done()
                return
            try:
                _, conn = await asyncio.wait_for(self.loop.create_connection(
                    lambda: Connection(self), self.plan.host, self.plan.port), self.plan.timeout_s)
            except OSError as exc:  # TimeoutError included
                kind = error_kind(exc)
                if backlog:  # open loop: the requests due on this connection fail
                    self.stats.errors[kind] += len(backlog)
                    backlog.clear()
                elif not self.open_loop and self._may_issue(time.monotonic_ns()):
                    self.stats.issued += 1  # closed loop: the attempt costs a request
                    self.stats.errors[kind] += 1
                await asyncio.sleep(RECONNECT_PAUSE_S)
                continue
            assert isinstance(conn, Connection)
            conn.backlog.extend(backlog)
            backlog.clear()
            self.connections[index] = conn
            self._refill(conn, time.monotonic_ns())
            return

    async def _schedule(self) -> None:
        """Open loop: hand out due times to the connections, on time."""
        assert self.plan.rate_rps is not None
        period_ns = 1e9 / self.plan.rate_rps
        count = self.plan.requests
        k = 0
        while not self.stopping:
            now = time.monotonic_ns()
            while (due := self.started_ns + int(k * period_ns)) <= now:
                if (count is not None and k >= count) or (count is None and due >= self.deadline_ns):
                    self.stopping = True
                    break
                conn_index = k % self.plan.connections
                k += 1
                self.stats.issued += 1
                conn = self.connections[conn_index]
                if conn is None:  # reconnecting: keep the due time for it
                    self.pending[conn_index].append(due)
                    continue
                conn.backlog.append(due)
                self._refill(conn, now)
            if self.stopping:
                break
            await asyncio.sleep(max(0.0, (self.started_ns + int(k * period_ns) - time.monotonic_ns()) / 1e9))
        self._check_done()

    async def _watch(self) -> None:
        """Abort connections whose oldest request is older than the timeout; report progress."""
        timeout_ns = int(self.plan.timeout_s * 1e9)
        next_progress = self.started_ns + 1_000_000_000
        while not self.done.done():
            await asyncio.sleep(WATCH_EVERY_S)
            now = time.monotonic_ns()
            for conn in self.connections:
                if conn is not None and conn.inflight and now - conn.inflight[0][1] > timeout_ns:
                    conn.fail("timeout")
            if self.plan.duration_s is not None and not self.open_loop:
                self._may_issue(now)
                self._check_done()
            if self.progress is not None and now >= next_progress:
                self.progress(self.stats, (now - self.started_ns) / 1e9)
                next_progress += 1_000_000_000

    async def run(self) -> LoadStats:
        plan = self.plan
        self.started_ns = time.monotonic_ns()
        self.deadline_ns = self.started_ns + int((plan.duration_s or 0) * 1e9)
        for index in range(plan.connections):
            self.loop.create_task(self._connect(index))
        tasks = [self.loop.create_task(self._watch())]
        if self.open_loop:
            tasks.append(self.loop.create_task(self._schedule()))
        try:
            await self.done
        finally:
            for task in tasks:
                task.cancel()
            self.stats.elapsed_s = (time.monotonic_ns() - self.started_ns) / 1e9
            for conn in self.connections:
                if conn is not None and conn.transport is not None:
                    conn.transport.close()
        return self.stats
