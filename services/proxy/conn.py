"""The client side: an asyncio Protocol per connection that turns bytes into jobs for `ProxyApp`.

Requests are handled one at a time in arrival order (pipelining keeps order); cache hits are answered
inside `data_received` without a task. CONNECT switches the connection into a byte tunnel.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Coroutine
from typing import Any

from services.common import log
from services.common.http1 import (
    Data,
    EndOfMessage,
    HTTPError,
    Request,
    RequestParser,
    keep_alive,
)

from . import respond
from .app import ProxyApp
from .flow import FlowControl
from .job import Job
from .router import handle
from .target import Origin
from .tunnel import open_tunnel

MAX_BUFFERED_BYTES = 1024 * 1024
# Request fields that need the full cycle (directives, conditionals, ranges, credentials, bodies).
_FAST_PATH_BLOCKERS = (b"cache-control", b"pragma", b"\r\nif-", b"range", b"authorization",
                       b"content-length", b"transfer-encoding", b"expect", b"\r\nconnection: upgrade")


class ClientConnection(asyncio.Protocol):
    def __init__(self, app: ProxyApp) -> None:
        self.app = app
        self.parser = RequestParser(app.config.limits)
        self.transport: asyncio.Transport | None = None
        self.flow: FlowControl | None = None
        self.peer = "-"
        self.request: Request | None = None
        self.body = bytearray()
        self.busy = False
        self.closed = False
        self.tunnel: asyncio.Transport | None = None
        self.eof_from = {"client": False, "upstream": False}  # tunnel half-closes; both: close
        self.last_activity = time.monotonic()
        self._idle_timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.flow = FlowControl(transport)
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "-"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._arm_idle_timer()

    def data_received(self, data: bytes) -> None:
        self.last_activity = time.monotonic()
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if not self.busy and not self.parser.buffered and self._try_fast_hit(data):
            return
        self.parser.feed(data)
        if not self.busy:
            self._process()
        elif self.parser.buffered > MAX_BUFFERED_BYTES and self.transport is not None:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        if self.tunnel is not None:
            if self.tunnel.can_write_eof():
                self.tunnel.write_eof()
            self._tunnel_eof("client")
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.flow is not None:
            self.flow.release()
        if self.tunnel is not None:
            self.tunnel.close()
        if self._idle_timer is not None:
            self._idle_timer.cancel()

    def pause_writing(self) -> None:
        if self.flow is not None:
            self.flow.pause_writing()

    def resume_writing(self) -> None:
        if self.flow is not None:
            self.flow.resume_writing()

    # -- the Client interface used by the cycle ---------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        if self.flow is not None and self.flow.write_paused and not self.closed:
            await self.flow.drain()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def start_tunnel(self, origin: Origin) -> Coroutine[Any, Any, None]:
        return open_tunnel(self, origin, self.app.config.connect_timeout_s)

    # -- the TunnelClient interface -------------------------------------------------------------------
    def attach_tunnel(self, upstream: asyncio.Transport) -> None:
        self.tunnel = upstream

    def write_eof(self) -> None:
        if self.transport is not None and self.transport.can_write_eof():
            self.transport.write_eof()
        self._tunnel_eof("upstream")

    def _tunnel_eof(self, side: str) -> None:
        self.eof_from[side] = True
        if all(self.eof_from.values()):  # both directions finished: nothing more can flow
            self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # -- request loop -----------------------------------------------------------------------------------
    def _try_fast_hit(self, data: bytes) -> bool:
        """Answer one plain `GET` of a fresh stored object without the parser (the hot path)."""
        if not data.startswith(b"GET /") or not data.endswith(b"\r\n\r\n") or data.count(b"\r\n\r\n") != 1:
            return False
        line_end = data.find(b"\r\n")
        line = data[:line_end]
        if not line.endswith(b" HTTP/1.1") or line.count(b" ") != 2:
            return False
        lowered = data[line_end:].lower()
        if b"\r\nhost:" not in lowered or any(word in lowered for word in _FAST_PATH_BLOCKERS):
            return False
        if not self.app.config.access_log:
            close = b"close" in lowered
            hit = self.app.fast_hit(line[4:-9].decode("latin-1"), close)
            if hit is None or self.transport is None:
                return False
            head, body = hit
            if len(body) < 65536:
                self.transport.write(head + body)
            else:
                self.transport.write(head)
                self.transport.write(body)
            if close:
                self.closed = True
                self.transport.close()
            return True
        return False

    def _process(self) -> None:
        while not self.busy and not self.closed and self.tunnel is None:
            try:
                event = self.parser.next_event()
            except HTTPError as exc:
                self._fail(exc)
                return
            if event is None:
                return
            if isinstance(event, Request):
                self.request = event
                self.body.clear()
                if "100-continue" in event.headers.get_tokens("expect") and event.version == "HTTP/1.1":
                    self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            elif isinstance(event, Data):
                self.body += event.data
            elif isinstance(event, EndOfMessage):
                self._dispatch()

    def _dispatch(self) -> None:
        request = self.request
        assert request is not None
        close = not keep_alive(request.version, request.headers)
        job = Job(request, bytes(self.body), close, self, time.monotonic())
        coro = handle(self.app, job)
        if coro is None:
            self._done(job)
            return
        self.busy = True
        task = asyncio.get_running_loop().create_task(self._run(job, coro))
        self.app.tasks.add(task)
        task.add_done_callback(self.app.tasks.discard)

    async def _run(self, job: Job, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except Exception as exc:
            log.event("proxy.internal_error", client=self.peer, target=job.request.target, error=repr(exc))
            job.close = True
            if job.status == 0:
                self.write(respond.error_response(500, "internal proxy error", close=True))
        self.busy = False
        self._done(job)
        if not self.closed and self.tunnel is None and self.transport is not None:
            self.transport.resume_reading()
            self._process()

    def _done(self, job: Job) -> None:
        if job.close and self.tunnel is None and self.transport is not None:
            self.closed = True
            self.transport.close()

    def _fail(self, exc: HTTPError) -> None:
        self.app.stats.client_errors += 1
        log.event("proxy.bad_request", client=self.peer, status=exc.status_code, error=exc.message)
        self.write(respond.error_response(exc.status_code, exc.message, close=True))
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- idle keep-alive connections --------------------------------------------------------------------
    def _arm_idle_timer(self) -> None:
        timeout = self.app.config.client_timeout_s
        self._idle_timer = asyncio.get_running_loop().call_later(timeout / 2, self._check_idle)

    def _check_idle(self) -> None:
        if self.closed or self.tunnel is not None:
            return
        if not self.busy and time.monotonic() - self.last_activity > self.app.config.client_timeout_s:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            return
        self._arm_idle_timer()
