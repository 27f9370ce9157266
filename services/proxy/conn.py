"""The client side: an asyncio Protocol per connection that turns bytes into jobs for `ProxyApp`.

Requests are handled one at a time in arrival order (pipelining keeps order); cache hits are answered
inside `data_received` without a task. CONNECT switches the connection into a byte tunnel.

Deadlines (`check_timeouts(now)`, called by the server's sweeper with the app's monotonic clock, so tests
drive them without sleeping): a request head must arrive within `header_timeout_s` and a body must keep
moving (else 408 and close, like the server and nginx's client_header_timeout / client_body_timeout); a
client that takes nothing of a response for `send_timeout_s` is dropped (nginx's send_timeout), which
also ends the upstream exchange feeding it; an idle keep-alive connection closes after
`client_timeout_s`. Every exception in handling a request becomes a 500 and a close, with one log line.
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
from services.common.inet import format_host_port, peer_host

from . import respond
from .app import ProxyApp
from .flow import FlowControl
from .job import CACHEABLE_METHODS, Job
from .router import handle
from .target import Origin
from .tunnel import open_tunnel

MAX_BUFFERED_BYTES = 1024 * 1024


class ClientConnection(asyncio.Protocol):
    def __init__(self, app: ProxyApp) -> None:
        self.app = app
        self.parser = RequestParser(app.config.limits)
        self.fast_heads = app.fast_heads
        self.fast_path = not app.config.access_log  # an access line needs the full path's Job
        self.transport: asyncio.Transport | None = None
        self.flow: FlowControl | None = None
        self.peer = "-"
        self.request: Request | None = None
        self.body: list[bytes] = []
        self.busy = False
        self.closed = False
        self.tunnel: asyncio.Transport | None = None
        self.eof_from = {"client": False, "upstream": False}  # tunnel half-closes; both: close
        self.last_activity = app.mono()
        self.receiving_since: float | None = None  # first byte of a request not complete yet
        self.in_body = False  # its head is parsed, its body is still arriving
        self.paused_since: float | None = None  # the transport's write buffer is full since
        self.draining = False  # graceful shutdown: close after the response in progress
        self.body_held = 0  # bytes of this connection's request body counted in app.bodies
        self.job: Job | None = None
        self.lingering_until: float | None = None  # error answered: dropping what still arrives until then

    # -- asyncio callbacks ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.app.fds.active:
            self.app.fds.recovered()
        self.flow = FlowControl(transport)
        peer = transport.get_extra_info("peername")
        # `[fd00::5]:41234` or `10.0.0.5:41234` (an IPv4 client of a dual-stack socket as IPv4)
        self.peer = (format_host_port(peer_host(str(peer[0])), int(peer[1])) if isinstance(peer, tuple)
                     else "-")
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.app.connections.add(self)

    def data_received(self, data: bytes) -> None:
        now = self.last_activity = self.app.mono()
        if self.lingering_until is not None:
            return  # the rest of a refused body: read and dropped, so closing does not reset the answer
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if not self.busy and not self.parser.buffered and self._try_fast_hit(data):
            return
        self.parser.feed(data)
        if not self.busy:
            if self.receiving_since is None:
                self.receiving_since = now
            self._process()
        elif self.parser.buffered > MAX_BUFFERED_BYTES and self.transport is not None:
            self.transport.pause_reading()

    def eof_received(self) -> bool:
        if self.lingering_until is not None:
            return False  # the client finished: close
        if self.tunnel is not None:
            if self.tunnel.can_write_eof():
                self.tunnel.write_eof()
            self._tunnel_eof("client")
            return True
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.app.connections.discard(self)
        self._release_body()
        if self.flow is not None:
            self.flow.release()
        if self.tunnel is not None:
            self.tunnel.close()

    def pause_writing(self) -> None:
        self.paused_since = self.app.mono()
        if self.flow is not None:
            self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.paused_since = None
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
        self.closed = True
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
        """Close once what is queued is written; nothing more is read or dispatched here."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- request loop -----------------------------------------------------------------------------------
    def _try_fast_hit(self, data: bytes) -> bool:
        """Answer one plain `GET` of a fresh stored object without a Job (the hot path, access log off).

        `data` must be exactly one head; `fast.FastHeads` validates it with the full parser's rules and
        `ProxyApp.fast_hit` asks `decide`, so anything else gets the full path's answer."""
        transport = self.transport
        if not self.fast_path or transport is None:
            return False
        plain = self.fast_heads.classify(data)
        if plain is None:
            return False
        target, close = plain
        hit = self.app.fast_hit(target, close)
        if hit is None:
            return False
        head, body = hit
        if len(body) < 65536:
            transport.write(head + body)
        else:
            transport.write(head)
            transport.write(body)
        if close:
            self.close()
        return True

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
                self.in_body = True
                self._release_body()
                if "100-continue" in event.headers.get_tokens("expect") and event.version == "HTTP/1.1":
                    self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            elif isinstance(event, Data):
                self._body_data(event.data)
            elif isinstance(event, EndOfMessage):
                self.in_body = False
                self.receiving_since = None
                self._dispatch()

    def _body_data(self, data: bytes) -> None:
        """Keep a forwarded method's body within the shared budget (else 503); drop a GET/HEAD body."""
        assert self.request is not None
        if self.request.method in CACHEABLE_METHODS:
            return  # dropped with its framing (never forwarded, issue 16 #11)
        if not self.app.bodies.take(len(data)):
            log.event("proxy.body_refused", client=self.peer, held=self.app.bodies.used,
                      limit=self.app.bodies.max_bytes)
            self._reply_and_close(503, "request bodies in flight exceed the proxy's --body-buffer")
            return
        self.body_held += len(data)
        self.body.append(data)  # pieces, joined once at dispatch (a growing bytearray over-allocates)

    def _release_body(self) -> None:
        if self.body_held:
            self.app.bodies.give(self.body_held)
            self.body_held = 0
        self.body = []

    def _dispatch(self) -> None:
        request = self.request
        assert request is not None
        close = self.draining or not keep_alive(request.version, request.headers)
        body = b"".join(self.body)
        self.body = []
        job = self.job = Job(request, body, close, self, time.monotonic())
        try:
            coro = handle(self.app, job)
        except Exception as exc:  # never a traceback and a silent connection: 500 and close
            self._internal_error(job, exc)
            coro = None
        if coro is None:
            self._release_body()
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
            self._internal_error(job, exc)
        self.busy = False
        self._release_body()
        self._done(job)
        self.last_activity = self.app.mono()  # idle time counts from the end of the response
        if not self.closed and self.tunnel is None and self.transport is not None:
            if self.parser.buffered:
                self.receiving_since = self.last_activity
            self.transport.resume_reading()
            self._process()

    def _internal_error(self, job: Job, exc: Exception) -> None:
        log.event("proxy.internal_error", client=self.peer, target=job.request.target, error=repr(exc))
        job.close = True
        if job.status == 0:
            self.write(respond.error_response(500, "internal proxy error", close=True))

    def _done(self, job: Job) -> None:
        self.job = None
        if (job.close or self.draining) and self.tunnel is None and self.transport is not None:
            self.close()

    def _fail(self, exc: HTTPError) -> None:
        log.event("proxy.bad_request", client=self.peer, status=exc.status_code, error=exc.message)
        self._reply_and_close(exc.status_code, exc.message)

    def _reply_and_close(self, status: int, message: str) -> None:
        """Answer and close, lingering: the client may still be sending (a body, a trickled head), and a
        close with unread bytes resets the connection, which can discard the answer before the client
        reads it. So half-close after the answer and keep reading (dropping) up to `--header-timeout`
        (nginx's lingering close)."""
        self.app.stats.client_errors += 1
        self.write(respond.error_response(status, message, close=True))
        self._release_body()
        transport = self.transport
        if transport is not None and transport.can_write_eof():
            transport.write_eof()
            self.lingering_until = self.app.mono() + self.app.config.header_timeout_s
            self.busy = True  # nothing more is parsed or dispatched on this connection
            return
        self.close()

    # -- deadlines and shutdown (driven by the server's sweeper) -----------------------------------------
    def check_timeouts(self, now: float) -> None:
        if self.closed or self.tunnel is not None or self.transport is None:
            return
        if self.lingering_until is not None:
            if now > self.lingering_until:
                self.close()
            return
        cfg = self.app.config
        if self.paused_since is not None and now - self.paused_since > cfg.send_timeout_s:
            self.app.stats.send_timeouts += 1
            log.event("proxy.send_timeout", client=self.peer, stalled_s=round(now - self.paused_since, 3))
            self.abort()
            return
        if self.busy:
            return
        if self.receiving_since is not None:
            since = self.last_activity if self.in_body else self.receiving_since
            if now - since > cfg.header_timeout_s:
                self.app.stats.request_timeouts += 1
                log.event("proxy.request_timeout", client=self.peer, in_body=self.in_body)
                self._reply_and_close(408, "request not received in time")
        elif now - self.last_activity > cfg.client_timeout_s:
            self.close()

    def shutdown(self) -> None:
        """Graceful stop: an idle or lingering connection closes now; a busy one after the response in
        progress."""
        self.draining = True
        if self.job is not None:
            self.job.close = True  # `Connection: close` on its response if the head is not sent yet
        idle = not self.busy and self.receiving_since is None and self.tunnel is None
        if (idle or self.lingering_until is not None) and not self.closed:
            self.close()
