"""The proxy's client connection: requests → jobs for the router (the shared lifecycle is `HttpConnection`).

Requests are taken one at a time in arrival order (pipelining keeps order); cache hits are answered inside
`data_received` without a task. A forwarded method's body above 64 KiB with a Content-Length is passed
upstream as it arrives (`body.BodyStream`: the request goes out at its head, reading pauses while the
upstream lags); a smaller or chunked one is read whole first (within the shared `--body-buffer`); a
GET/HEAD body is dropped with its framing. CONNECT switches the connection into a byte
tunnel. Deadlines, keep-alive, draining and the lingering close are the connection core's
(`services.common.connection`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from services.common import log
from services.common.connection.protocol import HttpConnection
from services.common.connection.state import Expiry
from services.common.http1 import HTTPError, Request

from . import respond
from .app import ProxyApp
from .body import BodyStream, streams
from .job import CACHEABLE_METHODS, Job
from .router import handle
from .serve import fast_hit
from .target import Origin
from .tunnel import open_tunnel


class ClientConnection(HttpConnection):
    INTERNAL_ERROR = "internal proxy error"

    def __init__(self, app: ProxyApp) -> None:
        super().__init__(app.config.limits, app.timeouts, app.mono, app.connections)
        self.app = app
        self.fast_heads = app.fast_heads
        self.fast_path = not app.config.access_log  # an access line needs the full path's Job
        self.request: Request | None = None
        self.body: list[bytes] = []
        self.body_held = 0  # bytes of this connection's request body counted in app.bodies
        self.stream: BodyStream | None = None  # the current request's body, passed upstream as it comes
        self.job: Job | None = None
        self.eof_from = {"client": False, "upstream": False}  # tunnel half-closes; both: close

    # -- counters and log lines ------------------------------------------------------------------
    def _opened(self) -> None:
        if self.app.fds.active:
            self.app.fds.recovered()

    def _lost(self, registered: bool) -> None:
        self._release_body()
        if self.relay is not None:
            self.relay.close()

    def _refused(self, exc: HTTPError) -> None:
        self.app.metrics.count("client_errors")
        log.event("proxy.bad_request", client=self.peer, status=exc.status_code, error=exc.message)

    def _timed_out(self, expiry: Expiry, now: float) -> None:
        metrics = self.app.metrics
        if expiry is Expiry.SEND:
            metrics.count("send_timeouts")
            log.event("proxy.send_timeout", client=self.peer, stalled_s=round(now - self.flow.progress_at, 3))
        elif expiry is Expiry.REQUEST:
            metrics.count("request_timeouts")
            metrics.count("client_errors")
            log.event("proxy.request_timeout", client=self.peer, in_body=self.state.in_body)

    def _log_crash(self, where: str, exc: Exception) -> None:
        target = self.job.request.target if self.job is not None else "-"
        log.event("proxy.internal_error", client=self.peer, target=target, error=repr(exc))

    def _error_answer(self, status: int, message: str) -> bytes:
        self._release_body()
        return respond.error_response(status, message)

    # -- the fast path: a plain GET of a fresh stored object, answered from the raw head ----------------
    def _fast(self, data: bytes, now: float) -> bytes:
        """Answer one plain `GET` of a fresh stored object without a Job (the hot path, access log off).

        `data` must be exactly one head; `fast.FastHeads` validates it with the full parser's rules and
        `serve.fast_hit` asks `decide`, so anything else gets the full path's answer."""
        transport = self.transport
        if not self.fast_path or transport is None:
            return data
        plain = self.fast_heads.classify(data)
        if plain is None:
            return data
        target, close = plain
        hit = fast_hit(self.app, target, close or self.state.draining)
        if hit is None:
            return data
        self.fast_heads.remember(data, plain)
        head, body = hit
        keep = not (close or self.state.draining)
        if len(body) < 65536:
            transport.write(head + body)
        else:
            transport.write(head)
            if not self.send_body(body, keep):
                return b""  # going out window by window; it ends the answer
        if not keep:
            self.close()
        return b""

    # -- the full path --------------------------------------------------------------------------
    def _on_request(self, request: Request) -> None:
        self.request = request
        self._release_body()
        self.send_continue(request)
        declared = self.parser.declared  # CHUNKED (-1) never streams
        if streams(request.method in CACHEABLE_METHODS, declared):
            self.stream = BodyStream(declared, self.hold_reading)
            self.body_streaming = True
            self._dispatch(request, b"", self.stream)

    def _on_body(self, data: bytes) -> None:
        """Pass a streamed body on; keep a forwarded method's body within the shared budget (else 503);
        drop a GET/HEAD body."""
        assert self.request is not None
        if self.stream is not None:
            self.stream.feed(data)
            return
        if self.request.method in CACHEABLE_METHODS:
            return  # dropped with its framing (never forwarded, issue 16 #11)
        if not self.app.bodies.take(len(data)):
            log.event("proxy.body_refused", client=self.peer, held=self.app.bodies.used,
                      limit=self.app.bodies.max_bytes)
            self.app.metrics.count("client_errors")
            self.answer_error(503, "request bodies in flight exceed the proxy's --body-buffer")
            return
        self.body_held += len(data)
        self.body.append(data)  # pieces, joined once at dispatch (a growing bytearray over-allocates)

    def _release_body(self) -> None:
        if self.body_held:
            self.app.bodies.give(self.body_held)
            self.body_held = 0
        self.body = []

    def _on_end(self) -> None:
        request = self.request
        assert request is not None
        if self.stream is not None:  # its job runs since the head: the body is complete now
            self.stream.end()
            self.stream, self.body_streaming = None, False
            return
        body = b"".join(self.body)
        self.body = []
        self._dispatch(request, body, None)

    def _dispatch(self, request: Request, body: bytes, stream: BodyStream | None) -> None:
        job = self.job = Job(request, body, not self.state.keep_alive(request), self, time.monotonic(),
                             stream=stream)
        try:
            coro = handle(self.app, job)
        except Exception as exc:  # never a traceback and a silent connection: 500 and close
            self._crashed("handle", exc)
            coro = None
        if coro is None:
            self._release_body()
            self.job = None
            if stream is not None:  # answered at once (an error): the body still arriving is dropped
                self._drop_body(stream)
            elif job.close and not self.state.closing and not self.sending_body:
                self.close()
            return
        self.state.busy = True
        task = asyncio.get_running_loop().create_task(self._run(job, coro))
        self.app.tasks.add(task)
        task.add_done_callback(self.app.tasks.discard)

    async def _run(self, job: Job, coro: Coroutine[Any, Any, None]) -> None:
        try:
            await coro
        except Exception as exc:
            self._crashed("handle", exc)
        self._release_body()
        self.job = None
        if job.stream is not None and job.stream is self.stream:  # answered before its body was all here
            self._drop_body(job.stream)
        if not self.sending_body:
            self.answer_ended(keep=not job.close)

    def _drop_body(self, stream: BodyStream) -> None:
        """The answer is out while the body still arrives: read and drop the rest, then close (lingering,
        so a reset does not destroy the answer before the client reads it)."""
        stream.close()
        self.stream, self.body_streaming = None, False
        self.hold_reading(False)
        if not self.state.closing:
            self.fail(b"")

    def shutdown(self) -> None:
        if self.job is not None:
            self.job.close = True  # `Connection: close` on its response if the head is not sent yet
        super().shutdown()

    # -- the Client interface used by the cycle: write, drain, abort (the core's), and ... ----------------
    def write_body(self, body: bytes) -> None:
        """A stored response's body (shared with every client it is served to): see `send_body`."""
        self.send_body(body, keep=self.job is None or not self.job.close)

    def start_tunnel(self, origin: Origin) -> Coroutine[Any, Any, None]:
        return open_tunnel(self, origin, self.app.config.connect_timeout_s)

    # -- the TunnelClient interface -------------------------------------------------------------
    def attach_tunnel(self, upstream: asyncio.Transport) -> None:
        self.relay = upstream
        self.state.switched = True

    def write_eof(self) -> None:
        if self.transport is not None and self.transport.can_write_eof():
            self.transport.write_eof()
        self._tunnel_eof("upstream")

    def _relay_eof(self) -> bool | None:
        if self.relay is not None and self.relay.can_write_eof():
            self.relay.write_eof()
        self._tunnel_eof("client")
        return True

    def _tunnel_eof(self, side: str) -> None:
        self.eof_from[side] = True
        if all(self.eof_from.values()):  # both directions finished: nothing more can flow
            self.close()
