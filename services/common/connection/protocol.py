"""The asyncio shell of one HTTP/1.1 connection: transport callbacks in, `ConnState` transitions and
decisions, writes and closes out (uvicorn's Protocol classes: they only translate).

A service subclasses `HttpConnection` and supplies what only it knows: how to answer a request
(`_on_request`, `_on_body`, `_on_end`, and `_fast` for answers straight from raw heads), the bytes of an
error answer (`_error_answer`), and its counters and log lines (`_opened`, `_lost`, `_refused`,
`_timed_out`, `_log_crash`). Everything else — pipelining order, keep-alive, draining, the lingering
close, deadlines, back-pressure, the client's end of stream, crashes — is here, once.

An answer that outlives the callback that began it (a task, a sendfile) sets `state.busy`; the service
calls `answer_ended(keep)` when it is done, and the next pipelined request is taken then. A service that
answers while the request's body is still arriving (the proxy streaming a body upstream) sets
`body_streaming`: the body's pieces keep coming to `_on_body` while busy, and `hold_reading` stops and
restarts reading from the client as the body's consumer keeps up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from services.common.http1 import Data, HTTPError, Limits, Request, RequestParser
from services.common.inet import format_host_port, peer_host

from .flow import FlowControl
from .heads import CONTINUE, expects_continue
from .lifecycle import Connections
from .state import ConnState, Expiry, Timeouts

MAX_BUFFERED_BYTES = 1024 * 1024  # while an answer is under way, reading pauses beyond this many bytes
BODY_WHOLE = 1024 * 1024  # a shared body up to this goes out in one write, like any answer (send_body)
BODY_WINDOW = 256 * 1024  # a larger one goes out a view of this many bytes at a time


class _Sending:
    """A shared body going out window by window (`send_body`)."""

    __slots__ = ("keep", "offset", "view")

    def __init__(self, body: bytes, keep: bool) -> None:
        self.view = memoryview(body)
        self.offset = 0
        self.keep = keep


class HttpConnection(asyncio.Protocol):
    INTERNAL_ERROR = "internal error"  # the message of the 500 a crash gets

    def __init__(self, limits: Limits, timeouts: Timeouts, now: Callable[[], float],
                 connections: Connections) -> None:
        """`now`: monotonic seconds (the service's injected clock)."""
        self.parser = RequestParser(limits)
        self.now = now
        self.connections = connections
        self.state = ConnState(timeouts, now())
        self.flow = FlowControl()
        self.transport: asyncio.Transport | None = None
        self.relay: asyncio.WriteTransport | None = None  # after a switch (CONNECT): where client bytes go
        self.peer = "-"
        self.body_streaming = False  # the answer began at the head: take its body's pieces while busy
        self._reading_paused = False
        self._held = False
        self._sending: _Sending | None = None

    @property
    def closed(self) -> bool:
        """Closed, aborted, lingering or gone: nothing more is written for an answer."""
        return self.state.closing

    # -- asyncio callbacks ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = self.flow.transport = transport
        peer = transport.get_extra_info("peername")
        # `10.0.0.5:41234` or `[fd00::5]:41234` (an IPv4 client of a dual-stack socket shown as IPv4)
        self.peer = (format_host_port(peer_host(str(peer[0])), int(peer[1])) if isinstance(peer, tuple)
                     else "-")
        self.state.last_activity = self.now()
        self.state.draining = self.connections.stopping
        self.connections.add(self)
        self._opened()

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.close()
        self._sending = None
        self.flow.resume_writing()  # wake a writer waiting to drain: its writes are no-ops now
        self._lost(self.connections.discard(self))

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state.lingering_until is not None:
            return  # after an error answer: read and dropped, so closing does not reset the answer away
        now = state.last_activity = self.now()
        if self.relay is not None:
            self.relay.write(data)
            return
        try:
            if not (state.busy or state.closing or self.flow.write_paused) and self.parser.idle:
                data = self._fast(data, now)
                if not data:
                    return
            self.parser.feed(data)
            self._process()
        except Exception as exc:  # never a hang or a traceback: 500 (or an abort) and one log line
            self._crashed("data_received", exc)

    def eof_received(self) -> bool | None:
        """The client finished sending: answer what is complete (a partial request gets 400), then close.
        An answer still under way keeps the connection open until it ends."""
        state = self.state
        if state.lingering_until is not None:
            return None  # the client finished: close
        if self.relay is not None:
            return self._relay_eof()
        state.eof = True
        try:
            self.parser.feed_eof()
            self._process()
        except Exception as exc:
            self._crashed("eof_received", exc)
        return True if state.busy and not state.closing else None

    def pause_writing(self) -> None:
        self.flow.pause_writing(self.now())
        self._update_reading()

    def resume_writing(self) -> None:
        self.flow.resume_writing()
        if self.state.closing:
            return
        sending = self._sending
        if sending is not None:
            try:
                done = self._send_more()
            except Exception as exc:
                self._crashed("resume_writing", exc)
                return
            if done:  # its last window is written: the answer ends (and the next request is taken)
                self._sending = None
                self.answer_ended(sending.keep)
                return
        self._resume("resume_writing")

    # -- requests -------------------------------------------------------------------------------
    def _process(self) -> None:
        """Take requests in arrival order while no answer is under way and the client keeps reading."""
        parser, state, flow = self.parser, self.state, self.flow
        while not (state.closing or flow.write_paused or (state.busy and not (self.body_streaming
                                                                             and state.in_body))):
            try:
                event = parser.next_event()
            except HTTPError as exc:
                self._refused(exc)
                self.answer_error(exc.status_code, exc.message)
                return
            if event is None:
                break
            if type(event) is Request:
                state.head_received()
                self._on_request(event)
            elif type(event) is Data:
                self._on_body(event.data)
            else:
                state.message_received()
                self._on_end()
        if parser.buffered:
            state.bytes_waiting()
            if state.busy and parser.buffered > MAX_BUFFERED_BYTES:
                self._update_reading()

    def answer_ended(self, keep: bool) -> None:
        """An answer that ran past its callback is done: close, or take the next pipelined request."""
        state = self.state
        state.answer_ended(self.now())
        if state.closing or self.relay is not None:
            return
        if not keep or state.draining:
            self.close()
            return
        self._resume("answer_ended")
        if state.eof and not (state.busy or state.closing):
            self.close()

    def _resume(self, where: str) -> None:
        """Read again if the client takes our answers, and take the requests waiting."""
        self._update_reading()
        try:
            self._process()
        except Exception as exc:
            self._crashed(where, exc)

    def _update_reading(self) -> None:
        """Read while the client takes our answers and the buffer of requests waiting stays bounded."""
        transport = self.transport
        if transport is None or self.relay is not None:
            return
        pause = (self.flow.write_paused or self._held
                 or (self.state.busy and self.parser.buffered > MAX_BUFFERED_BYTES))
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def hold_reading(self, hold: bool) -> None:
        """Stop (and later restart) reading from the client: what a streamed body's consumer asks for
        while it cannot take more."""
        self._held = hold
        self._update_reading()

    # -- writing and ending ---------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Bytes of the answer to the current request (dropped once the connection is closing)."""
        if self.transport is not None and not self.state.closing:
            self.state.answered = True
            self.transport.write(data)

    def send_body(self, body: bytes, keep: bool) -> bool:
        """The rest of the current answer: `body`, a bytes object other answers share (a stored response).

        Up to `BODY_WHOLE` bytes are written at once: True, and the caller ends the answer as after any
        write. A larger body goes out one view of `BODY_WINDOW` bytes at a time, the next when the client
        has taken the last (`resume_writing`), so a client that reads slowly holds one window, not a copy of
        the body (Python 3.11's transport copies what the socket does not take at once: 20 clients reading
        nothing of a 4 MiB hit held 27 MiB; 3.12's keeps a view). The answer is then under way
        (`state.busy`) and ends with `answer_ended(keep)` after its last view: False. Not below
        `BODY_WHOLE`: four windows instead of one write cost a 1 MiB hit 13 % more CPU (259 vs 229 µs),
        and the socket takes a MiB at once unless the client stopped reading."""
        if len(body) <= BODY_WHOLE:
            self.write(body)
            return True
        self.state.answered = True
        self._sending = _Sending(body, keep)
        if self._send_more():  # the socket took it all at once
            self._sending = None
            return True
        self.state.busy = True
        return False

    @property
    def sending_body(self) -> bool:
        """A shared body is still going out (`send_body`): that ends the answer, not its caller."""
        return self._sending is not None

    def _send_more(self) -> bool:
        """Windows of the body while the client takes them; True once the last is written (or the
        connection is gone: nothing more to write)."""
        sending, transport = self._sending, self.transport
        if sending is None or transport is None or self.state.closing:
            return True
        view = sending.view
        while sending.offset < len(view):
            if self.flow.write_paused:
                return False
            transport.write(view[sending.offset:sending.offset + BODY_WINDOW])
            sending.offset += BODY_WINDOW
        return True

    async def drain(self) -> None:
        """Wait while the client is not taking what was written."""
        if not self.state.closing:
            await self.flow.drain()

    def send_continue(self, request: Request) -> None:
        """`100 Continue` when the client waits for it before sending the body (a service that reads the
        body before answering calls this with the head)."""
        if expects_continue(request) and self.transport is not None:
            self.transport.write(CONTINUE)

    def answer_error(self, status: int, message: str) -> None:
        self.fail(self._error_answer(status, message))

    def fail(self, data: bytes) -> None:
        """Answer with `data` (which says `Connection: close`) and close, lingering: the client may still
        be sending (a trickled head, a body, pipelined requests), and a close with unread bytes resets the
        connection, which can discard the answer before the client reads it. So half-close and keep
        reading (dropping) until the client's end of stream, for at most the header timeout, and not at
        all once a graceful stop begins (nginx's lingering close)."""
        transport = self.transport
        if transport is not None:
            transport.write(data)
        if transport is None or not transport.can_write_eof():
            self.close()
            return
        transport.write_eof()
        self.state.linger(self.now())

    def close(self) -> None:
        """Close once what is queued is written; nothing more is read or answered."""
        self.state.close()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now (an answer in flight is cut)."""
        self.state.close()
        self._aborting()
        if self.transport is not None:
            self.transport.abort()

    def _crashed(self, where: str, exc: Exception) -> None:
        self._log_crash(where, exc)
        if self.state.closing or self.transport is None:
            return
        if self.state.answered or self.flow.file_sending:
            self.abort()  # an answer is under way: its bytes cannot be followed by a 500
        else:
            self.answer_error(500, self.INTERNAL_ERROR)

    # -- deadlines and shutdown (driven by the lifecycle's sweeper and drain) -------------------------
    def check_timeouts(self, now: float) -> None:
        if self.transport is None:
            return
        state = self.state
        expiry = state.expired(now, self.flow)
        if expiry is None:
            return
        if expiry is Expiry.LINGER_OVER:
            self.close()
            return
        self._timed_out(expiry, now)
        if expiry is Expiry.SEND:
            self.abort()
        elif expiry is Expiry.IDLE or (state.in_body and state.answered):
            self.close()
        else:
            self.answer_error(408, "request not received in time")

    def shutdown(self) -> None:
        """Graceful stop: idle and lingering connections close now, busy ones after their answer."""
        if self.state.shutdown(self.flow.blocked):
            self.close()

    # -- what a service supplies ----------------------------------------------------------------
    def _fast(self, data: bytes, now: float) -> bytes:
        """Answer leading requests straight from `data` (the parser is idle); return the bytes left."""
        return data

    def _on_request(self, request: Request) -> None:
        raise NotImplementedError

    def _on_body(self, data: bytes) -> None:
        """A piece of the current request's body."""

    def _on_end(self) -> None:
        """The current request is complete."""

    def _error_answer(self, status: int, message: str) -> bytes:
        """The bytes of an error answer that closes the connection."""
        raise NotImplementedError

    def _opened(self) -> None:
        """Registered and ready (counters)."""

    def _lost(self, registered: bool) -> None:
        """Gone; `registered`: it was still in the registry (counted once)."""

    def _refused(self, exc: HTTPError) -> None:
        """A request could not be parsed (counters, a log line); the error answer follows."""

    def _timed_out(self, expiry: Expiry, now: float) -> None:
        """A deadline passed (counters, a log line); the close, abort or 408 follows."""

    def _log_crash(self, where: str, exc: Exception) -> None:
        """An exception escaped while handling the connection; a 500 or an abort follows."""

    def _aborting(self) -> None:
        """Stop whatever still writes (a sendfile task)."""

    def _relay_eof(self) -> bool | None:
        """The client finished sending while bytes are relayed raw."""
        return None
