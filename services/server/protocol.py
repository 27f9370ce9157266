"""The server's connection: requests → plans → bytes (the shared lifecycle is `HttpConnection`).

Answers are written in the callback that parsed their request, except files sent with `sendfile` beyond
what the socket takes at once: that part runs in a task, and later requests wait for it. An upload to
the sink (`POST|PUT /_server/sink`, `sink`) is answered when its body has been read and counted.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace

from services.common import log
from services.common.connection.heads import CLOSE, connection_field, status_line
from services.common.connection.lifecycle import Connections
from services.common.connection.protocol import HttpConnection
from services.common.connection.state import Expiry
from services.common.http1 import CHUNKED, REASONS, HTTPError, Request

from . import sink
from .context import Context
from .fast import Route
from .files import EXHAUSTION, Exhausted, FileEntry
from .paths import url_path
from .plan import Plan, error_plan, plan_request
from .sendfile import send_now

_OK = status_line(200)
_BATCH_BYTES = 64 * 1024  # fast-path answers are written together, flushed at this size
_RETRY = "Retry-After: 1\r\n"


class HttpProtocol(HttpConnection):
    def __init__(self, ctx: Context, connections: Connections | None = None) -> None:
        super().__init__(ctx.limits, ctx.timeouts, ctx.now,
                         connections if connections is not None else Connections())
        self.ctx = ctx
        self.sending: asyncio.Task[None] | None = None
        self.upload: sink.Upload | None = None
        self.upload_request: Request | None = None

    # -- counters and log lines ------------------------------------------------------------------
    def _opened(self) -> None:
        self.ctx.stats.connections_open += 1
        self.ctx.stats.connections_total += 1

    def _lost(self, registered: bool) -> None:
        self._aborting()
        self.upload = None
        if registered:
            self.ctx.stats.connections_open -= 1

    def _refused(self, exc: HTTPError) -> None:
        self.ctx.stats.parse_errors += 1

    def _timed_out(self, expiry: Expiry, now: float) -> None:
        stats = self.ctx.stats
        if expiry is Expiry.SEND:
            stats.timeouts_send += 1
            stalled_s = round(now - self.flow.progress_at, 3)
            log.event("server.send_timeout", client=self.peer, stalled_s=stalled_s)
        elif expiry is Expiry.REQUEST:
            stats.timeouts_header += 1
        else:
            stats.timeouts_idle += 1

    def _log_crash(self, where: str, exc: Exception) -> None:
        self.ctx.stats.internal_errors += 1
        log.event("server.error", where=where, error=repr(exc)[:300], client=self.peer)

    def _aborting(self) -> None:
        if self.sending is not None:
            self.sending.cancel()

    def _error_answer(self, status: int, message: str) -> bytes:
        plan = error_plan(status)
        data = status_line(status) + self.ctx.date_server() + plan.head + CLOSE + b"\r\n" + plan.body
        self.ctx.stats.responses[status] += 1
        if self.ctx.access_log:
            self.ctx.access.write(self.peer, "-", "-", status, len(data), 0)
        return data

    # -- fast path: plain GET/HEAD of a cached small file, answered from the raw head ------------
    def _fast(self, data: bytes, now: float) -> bytes:
        """Answer the leading plain requests in `data`; return the bytes left for the full parser."""
        ctx, state, flow, pos, out, batched = self.ctx, self.state, self.flow, 0, [], 0
        route = ctx.fast.route
        while not (flow.write_paused or state.closing or state.draining):
            end = data.find(b"\r\n\r\n", pos) + 4
            if end < 4:
                break
            hit = route(data if pos == 0 and end == len(data) else data[pos:end])
            answer = None if hit is None else self._fast_answer(hit, now)
            if answer is None:
                break
            out.append(answer)
            batched += len(answer)
            pos = end
            if batched >= _BATCH_BYTES:
                self._write_batch(out)
                batched = 0
        self._write_batch(out)
        return data[pos:] if pos else data

    def _fast_answer(self, hit: Route, now: float) -> bytes | None:
        ctx = self.ctx
        try:
            entry = ctx.site.find(hit[2], now)
        except Exception:  # the full path answers (500) and logs it
            return None
        if type(entry) is not FileEntry or entry.body is None:
            return None
        head = _OK + ctx.date_server() + entry.head_200 + b"\r\n"
        answer = head + entry.body if hit[0] else head
        stats = ctx.stats
        stats.requests_total += 1
        stats.responses[200] += 1
        stats.bytes_sent += len(answer)
        if ctx.access_log:
            ctx.access.write(self.peer, "GET" if hit[0] else "HEAD", hit[1][:2000].decode("ascii"), 200,
                             len(answer), round((ctx.now() - now) * 1000, 3))
        return answer

    def _write_batch(self, out: list[bytes]) -> None:
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()

    def _learn(self, target: str, plan: Plan) -> None:
        """Remember targets the full path answered with a whole in-memory file (see `_fast`)."""
        entry = plan.entry
        if entry is None or entry.body is None or plan.status != 200 or plan.head is not entry.head_200:
            return
        path = url_path(target)
        if path is not None and target.startswith("/"):
            self.ctx.fast.learn(target.encode("ascii"), path)

    # -- requests: answered as soon as their head is parsed ----------------------------------------
    def _on_request(self, request: Request) -> None:
        declared = self.parser.declared
        if sink.is_sink(request.target):
            self._start_upload(request, declared)  # the sink's own limits, said in its own words
        elif declared > self.ctx.max_body:  # the parser reads any size: each request keeps its limit
            self.answer_error(413, "request body too large")
        else:
            if declared == CHUNKED:  # counted by the parser as it comes
                self.parser.limits = replace(self.ctx.limits, max_body=self.ctx.max_body)
            self._respond(request)

    def _on_end(self) -> None:
        self.parser.limits = self.ctx.limits
        upload, request = self.upload, self.upload_request
        if upload is not None and request is not None:
            self.upload = self.upload_request = None
            self._answer_upload(upload, request)

    # -- the upload sink: read, count, answer with the count -----------------------------------------
    def _start_upload(self, request: Request, declared: int) -> None:
        refusal = sink.admit(request.method, declared, self.ctx.sink)
        if refusal is not None:
            self._refuse_upload(refusal)
            return
        self.upload, self.upload_request = sink.Upload(declared, self.ctx.sink, self.ctx.now()), request
        self.send_continue(request)

    def _on_body(self, data: bytes) -> None:
        upload = self.upload
        if upload is not None:
            self.ctx.stats.upload_bytes += len(data)
            refusal = upload.feed(len(data), self.ctx.now())
            if refusal is not None:  # a chunked body past the sink's limit
                self._refuse_upload(refusal)

    def _answer_upload(self, upload: sink.Upload, request: Request) -> None:
        ctx = self.ctx
        body = upload.summary(ctx.now())
        keep = self.state.keep_alive(request)
        head = (_OK + ctx.date_server() + b"Content-Type: application/json\r\nCache-Control: no-store\r\n"
                + b"Content-Length: %d\r\n" % len(body) + connection_field(keep, request.version) + b"\r\n")
        self.write(head + body)
        ctx.stats.uploads += 1
        ctx.stats.requests_total += 1
        ctx.stats.responses[200] += 1
        ctx.stats.bytes_sent += len(head) + len(body)
        if ctx.access_log:
            ctx.access.write(self.peer, request.method, request.target[:2000], 200, len(head) + len(body),
                             round((ctx.now() - upload.started_s) * 1000, 3))
        if not keep:
            self.close()

    def _refuse_upload(self, refusal: sink.Refusal) -> None:
        """The sink's 405, 408 or 413: said once, then the connection closes (lingering)."""
        self.upload = self.upload_request = None
        log.event("server.upload_refused", client=self.peer, status=refusal.status, reason=refusal.message)
        body = f"{refusal.status} {REASONS.get(refusal.status, 'Error')}: {refusal.message}\n".encode()
        head = (f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
                + (f"Allow: {refusal.allow}\r\n" if refusal.allow else "")).encode("latin-1")
        self.ctx.stats.responses[refusal.status] += 1
        self.fail(status_line(refusal.status) + self.ctx.date_server() + head + CLOSE + b"\r\n" + body)

    def check_timeouts(self, now: float) -> None:
        """The core's deadlines, and the sink's: an upload that trickles is refused (408)."""
        upload = self.upload
        refusal = None if upload is None or self.state.closing else upload.overdue(now)
        if refusal is not None:
            self.ctx.stats.timeouts_header += 1
            self._refuse_upload(refusal)
            return
        super().check_timeouts(now)

    def _plan(self, request: Request, now: float) -> tuple[Plan, io.FileIO | None]:
        """The plan, and the open file when the body comes from disk (opened before any byte is sent)."""
        ctx = self.ctx
        try:
            plan = plan_request(request, ctx.site, ctx.specials, now)
            entry = plan.entry
            if entry is None or entry.body is not None or request.method == "HEAD" or plan.status == 304:
                return plan, None
            return plan, open(entry.path, "rb", buffering=0)
        except Exhausted as exc:
            return self._exhausted(now, exc), None
        except OSError as exc:
            if exc.errno in EXHAUSTION:
                return self._exhausted(now, exc), None
            return error_plan(404), None  # gone or unreadable since it was planned
        except Exception as exc:  # never a traceback to the client
            ctx.stats.internal_errors += 1
            log.event("server.error", where="plan", error=repr(exc)[:300], target=request.target[:200])
            return error_plan(500), None

    def _exhausted(self, now: float, exc: OSError) -> Plan:
        """Our own descriptor/memory exhaustion: 503 with Retry-After, logged once per episode."""
        self.ctx.exhaustion.note("open", now, exc.strerror or "")
        return error_plan(503, _RETRY)

    def _respond(self, request: Request) -> None:
        ctx, state = self.ctx, self.state
        started = ctx.now()
        plan, handle = self._plan(request, started)
        self._learn(request.target, plan)
        keep = state.keep_alive(request)
        head = (status_line(plan.status) + ctx.date_server() + plan.head
                + connection_field(keep, request.version) + b"\r\n")
        state.answered = True
        sent = self._send(request.method, plan, head, keep, handle)
        ctx.stats.requests_total += 1
        ctx.stats.responses[plan.status] += 1
        ctx.stats.bytes_sent += sent
        if ctx.access_log:
            ctx.access.write(self.peer, request.method, request.target[:2000], plan.status, sent,
                             round((ctx.now() - started) * 1000, 3))

    def _send(self, method: str, plan: Plan, head: bytes, keep: bool, handle: io.FileIO | None) -> int:
        transport = self.transport
        assert transport is not None
        entry = plan.entry
        if handle is not None:
            return self._send_file(handle, plan, head, keep)
        if method == "HEAD" or plan.status == 304:
            transport.write(head)
        elif entry is None:
            transport.write(head + plan.body)
        elif entry.body is not None:
            body = entry.body
            if plan.length != len(body):
                body = body[plan.offset:plan.offset + plan.length]
            transport.write(head + body)
        if not keep:
            self.close()
        return len(head) + (0 if method == "HEAD" or plan.status == 304 else len(plan.body) or plan.length)

    def _send_file(self, handle: io.FileIO, plan: Plan, head: bytes, keep: bool) -> int:
        """Send what the socket takes now; the rest from a task the send timeout can stop."""
        transport = self.transport
        assert transport is not None
        try:
            done = send_now(transport, head, handle.fileno(), plan.offset, plan.length)
        except OSError as exc:
            handle.close()
            self._sendfile_failed(exc)
            return len(head)
        if done < plan.length:
            self.state.busy = True
            self.flow.file_started(self.ctx.now())
            rest = (plan.offset + done, plan.length - done)
            self.sending = asyncio.get_running_loop().create_task(self._sendfile(handle, rest, keep))
            return len(head) + plan.length
        handle.close()
        if not keep:
            self.close()
        return len(head) + plan.length

    async def _sendfile(self, handle: io.FileIO, rest: tuple[int, int], keep: bool) -> None:
        transport = self.transport
        assert transport is not None
        offset, length = rest
        try:
            with handle:
                sent = await asyncio.get_running_loop().sendfile(transport, handle, offset, length)
            if sent != length:
                raise OSError(f"short sendfile {sent}/{length}")
        except Exception as exc:
            self._sendfile_failed(exc)
            return
        finally:
            self.flow.file_ended()
            self.sending = None
        self.answer_ended(keep)

    def _sendfile_failed(self, exc: Exception) -> None:
        if not self.state.closing:
            log.event("server.sendfile_failed", client=self.peer, error=str(exc)[:300])
        self.abort()
