"""The thin asyncio Protocol: bytes → parser → plan → bytes, in order, with flow control and timeouts.

Time comes from the context's injected clock; the server's sweeper calls `check_timeouts(now)`. Any
exception while handling a connection becomes a 500 (or, mid-response, an abort) and one log line.
"""

from __future__ import annotations

import asyncio
import io

from services.common import log
from services.common.http1 import REASONS, Data, EndOfMessage, HTTPError, Request, RequestParser, keep_alive
from services.common.inet import format_host_port

from .context import Context
from .fast import Route
from .files import EXHAUSTION, Exhausted, FileEntry
from .lifecycle import Connections
from .paths import url_path
from .plan import Plan, error_plan, plan_request
from .sendfile import bytes_acked, send_now

_STATUS = {code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in REASONS.items()}
_CLOSE = b"Connection: close\r\n\r\n"
_KEEP_10 = b"Connection: keep-alive\r\n\r\n"
_OK = _STATUS[200]
_BATCH_BYTES = 64 * 1024  # fast-path answers are written together, flushed at this size
_RETRY = "Retry-After: 1\r\n"


class HttpProtocol(asyncio.Protocol):
    def __init__(self, ctx: Context, connections: Connections | None = None) -> None:
        self.ctx = ctx
        self.connections = connections if connections is not None else Connections()
        self.parser = RequestParser(ctx.limits)
        self.transport: asyncio.Transport | None = None
        self.peer = "-"
        self.busy = False  # a sendfile is in progress; later requests wait
        self.write_paused = False
        self.closing = False
        self.head_since: float | None = None
        self.last_activity = 0.0
        self.sending: asyncio.Task[None] | None = None
        self.acked: int | None = None  # bytes the client had acknowledged at `progress_at`
        self.progress_at = 0.0
        self.lingering_until: float | None = None  # error answered: dropping what still arrives until then

    # -- asyncio callbacks --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = format_host_port(str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else "-"
        self.last_activity = self.ctx.now()
        self.connections.add(self)
        self.ctx.stats.connections_open += 1
        self.ctx.stats.connections_total += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        if self.sending is not None:
            self.sending.cancel()
        if self.connections.discard(self):
            self.ctx.stats.connections_open -= 1

    def data_received(self, data: bytes) -> None:
        if self.lingering_until is not None:
            return  # after an error answer: read and dropped, so closing does not reset the answer away
        try:
            now = self.last_activity = self.ctx.now()
            if self.parser.idle and not (self.busy or self.write_paused or self.closing):
                data = self._fast(data, now)
                if not data:
                    return
            self.parser.feed(data)
            self._process()
        except Exception as exc:  # never a hang or a traceback: 500 (or an abort) and one log line
            self._crashed("data_received", exc)

    def eof_received(self) -> bool | None:
        if self.lingering_until is not None:
            return None  # the client finished: close
        try:
            self.parser.feed_eof()
            self._process()
        except Exception as exc:
            self._crashed("eof_received", exc)
        return None  # close our side once everything queued is written

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.transport is not None:
            self.acked, self.progress_at = bytes_acked(self.transport), self.ctx.now()
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()
            try:
                self._process()
            except Exception as exc:
                self._crashed("resume_writing", exc)

    def _crashed(self, where: str, exc: Exception) -> None:
        self.ctx.stats.internal_errors += 1
        log.event("server.error", where=where, error=repr(exc)[:300], client=self.peer)
        if self.closing or self.transport is None:
            return
        if self.busy or self.write_paused:
            self.abort()  # a response is under way: its bytes cannot be followed by a 500
        else:
            self._fail(500, "-", "-")

    # -- fast path: plain GET/HEAD of a cached small file, answered from the raw head ------------
    def _fast(self, data: bytes, now: float) -> bytes:
        """Answer the leading plain requests in `data`; return the bytes left for the full parser."""
        ctx, pos, out, batched = self.ctx, 0, [], 0
        route = ctx.fast.route
        while not (self.write_paused or self.closing or ctx.stopping):
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

    # -- request loop -------------------------------------------------------------------------
    def _process(self) -> None:
        parser = self.parser
        while not (self.busy or self.write_paused or self.closing):
            try:
                event = parser.next_event()
            except HTTPError as exc:
                self.ctx.stats.parse_errors += 1
                self._fail(exc.status_code, "-", "-")
                return
            if event is None:
                break
            if type(event) is Request:
                self.head_since = None
                self._respond(event)
            elif type(event) is EndOfMessage or type(event) is Data:
                continue
        if parser.buffered and self.head_since is None and not self.busy:
            self.head_since = self.ctx.now()

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
        ctx = self.ctx
        started = ctx.now()
        plan, handle = self._plan(request, started)
        self._learn(request.target, plan)
        keep = not ctx.stopping and keep_alive(request.version, request.headers)
        tail = (_KEEP_10 if request.version == "HTTP/1.0" else b"\r\n") if keep else _CLOSE
        status = _STATUS.get(plan.status) or b"HTTP/1.1 %d \r\n" % plan.status
        head = status + ctx.date_server() + plan.head + tail
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
            self._close()
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
            self.busy = True
            self.acked, self.progress_at = bytes_acked(transport), self.ctx.now()
            rest = (plan.offset + done, plan.length - done)
            self.sending = asyncio.get_running_loop().create_task(self._sendfile(handle, rest, keep))
            return len(head) + plan.length
        handle.close()
        if not keep:
            self._close()
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
            self.busy = False
            self.sending = None
        try:
            if keep and not self.ctx.stopping:
                self._process()
            else:
                self._close()
        except Exception as exc:
            self._crashed("after_sendfile", exc)

    def _sendfile_failed(self, exc: Exception) -> None:
        if not self.closing:
            log.event("server.sendfile_failed", client=self.peer, error=str(exc)[:300])
        self.abort()

    def _fail(self, status: int, method: str, target: str) -> None:
        plan = error_plan(status)
        head = _STATUS[status] + self.ctx.date_server() + plan.head + _CLOSE
        if self.transport is not None:
            self.transport.write(head + plan.body)
        self.ctx.stats.responses[status] += 1
        if self.ctx.access_log:
            self.ctx.access.write(self.peer, method, target, status, len(head) + len(plan.body), 0)
        self._linger()

    def _linger(self) -> None:
        """Close after an error answer, lingering: the client may still be sending (a trickled head, a
        body, pipelined requests), and a close with unread bytes resets the connection, which can discard
        the answer before the client reads it. So half-close and keep reading (dropping) for at most the
        header timeout (nginx's lingering close)."""
        transport = self.transport
        if transport is None or not transport.can_write_eof():
            self._close()
            return
        self.closing = True
        transport.write_eof()
        self.lingering_until = self.ctx.now() + self.ctx.timeouts.header_s

    def _close(self) -> None:
        self.closing = True
        self.lingering_until = None
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now (a response in flight is cut)."""
        self.closing = True
        if self.sending is not None:
            self.sending.cancel()
        if self.transport is not None:
            self.transport.abort()

    # -- timers (driven by the server's sweeper) ----------------------------------------------
    def check_timeouts(self, now: float) -> None:
        if self.lingering_until is not None and now > self.lingering_until:
            self._close()
            return
        if self.closing or self.transport is None:
            return
        timeouts = self.ctx.timeouts
        if self.busy or self.write_paused:
            if self._stalled(now, timeouts.send_s):
                self._send_timeout(now - self.progress_at)
            return
        if self.head_since is not None and now - self.head_since > timeouts.header_s:
            self.ctx.stats.timeouts_header += 1
            self._fail(408, "-", "-")
        elif self.head_since is None and now - self.last_activity > timeouts.idle_s:
            self.ctx.stats.timeouts_idle += 1
            self._close()

    def _stalled(self, now: float, send_s: float) -> bool:
        """Has the client acknowledged nothing new for `send_s` (nginx send_timeout)? Without TCP_INFO a
        paused writer counts from the pause, and a sendfile is never cut (its progress is invisible)."""
        assert self.transport is not None
        acked = bytes_acked(self.transport)
        if acked is not None and acked != self.acked:
            self.acked, self.progress_at = acked, now
            return False
        if acked is None and self.busy:
            return False
        return now - self.progress_at > send_s

    def _send_timeout(self, stalled_s: float) -> None:
        self.ctx.stats.timeouts_send += 1
        log.event("server.send_timeout", client=self.peer, stalled_s=round(stalled_s, 3))
        self.abort()

    def shutdown(self) -> None:
        """Graceful stop: close idle and lingering connections now; busy ones close after their response."""
        if self.lingering_until is not None or not (self.busy or self.head_since is not None
                                                    or self.write_paused):
            self._close()
