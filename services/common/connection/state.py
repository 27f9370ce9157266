"""The lifecycle of one HTTP/1.1 connection on the answering side, without I/O (h11's idea: a state both
services share, driven by what happened and when).

The shell (`protocol.HttpConnection`) reports events — bytes arrived, a request head or a whole message
was parsed, an answer began or ended, the writer blocked — and asks `expired(now, writer)` which deadline
has passed. Deadlines (`Timeouts`):

- a request head must arrive within `header_s` from its first byte, however slowly it drips in, and a
  body may pause no longer than `header_s` (else 408; or a plain close when that request was answered
  already, as the server answers at the head);
- a client that takes nothing of a response for `send_s` is dropped (the writer's progress is measured by
  `flow.FlowControl`);
- an idle keep-alive connection closes after `idle_s`, counted from the end of the last answer;
- after an error answer the connection lingers (half-closed, dropping what still arrives) for at most
  `header_s`, and at once on a graceful stop.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from services.common.http1 import Request, keep_alive


@dataclass(frozen=True)
class Timeouts:
    """The deadlines of one listener's connections (the services' defaults are in their Option tables)."""

    header_s: float  # a request head must arrive, and a body may pause, no longer (nginx 60 s)
    idle_s: float  # keep-alive idle (nginx keepalive_timeout 75 s)
    send_s: float  # no byte delivered to the client for this long (nginx send_timeout 60 s)


class Expiry(enum.Enum):
    """Which deadline has passed, and so what the shell does."""

    LINGER_OVER = "linger_over"  # the lingering close's time is up: close
    SEND = "send"  # the client took nothing of the answer for send_s: abort
    REQUEST = "request"  # a head or body did not arrive in time: 408 (or close, when already answered)
    IDLE = "idle"  # keep-alive idle for idle_s: close


class Writer(Protocol):
    """The write side as the deadlines see it (`flow.FlowControl`)."""

    @property
    def blocked(self) -> bool: ...

    def stalled(self, now: float, send_s: float) -> bool: ...


class ConnState:
    """What one connection is doing, as plain data; every method is a transition or a decision."""

    __slots__ = ("answered", "busy", "closing", "draining", "eof", "in_body", "last_activity",
                 "lingering_until", "receiving_since", "switched", "timeouts")

    def __init__(self, timeouts: Timeouts, now: float) -> None:
        self.timeouts = timeouts
        self.last_activity = now  # bytes arrived, or an answer ended
        self.receiving_since: float | None = None  # first byte of a request not complete yet
        self.in_body = False  # its head is parsed, its body still arriving
        self.answered = False  # the answer to the request being received has begun
        self.busy = False  # an answer runs past the callback that began it: no new request is taken
        self.closing = False  # closed, aborted or lingering: nothing more is read or answered
        self.draining = False  # graceful stop: close after the answer in progress
        self.eof = False  # the client finished sending: close once the answers owed are written
        self.lingering_until: float | None = None  # error answered: dropping what still arrives until then
        self.switched = False  # bytes are relayed raw (a CONNECT tunnel): no HTTP deadlines

    # -- requests -------------------------------------------------------------------------------
    def head_received(self) -> None:
        self.in_body = True
        self.answered = False
        if self.receiving_since is None:
            self.receiving_since = self.last_activity

    def message_received(self) -> None:
        self.receiving_since = None
        self.in_body = False

    def bytes_waiting(self) -> None:
        """Part of a request is buffered while nothing is being answered: its deadline runs."""
        if self.receiving_since is None and not self.busy:
            self.receiving_since = self.last_activity

    def keep_alive(self, request: Request) -> bool:
        """May the connection persist after answering `request` (RFC 9112 §9.3)? Never while draining."""
        return not self.draining and keep_alive(request.version, request.headers)

    # -- answers --------------------------------------------------------------------------------
    def answer_ended(self, now: float) -> None:
        """An answer that ran past its callback (a task, a sendfile) is done; idle time counts from now."""
        self.busy = False
        self.last_activity = now

    # -- the end --------------------------------------------------------------------------------
    def linger(self, now: float) -> None:
        """After an error answer: read and drop until the client's end of stream, or `header_s`."""
        self.closing = True
        self.lingering_until = now + self.timeouts.header_s

    def close(self) -> None:
        self.closing = True
        self.lingering_until = None

    def shutdown(self, writer_blocked: bool) -> bool:
        """Graceful stop: from now on every answer closes its connection. True when it should close at once
        (lingering, or idle: no request arriving, no answer under way)."""
        self.draining = True
        if self.lingering_until is not None:
            return True
        return not (self.closing or self.busy or self.switched or writer_blocked
                    or self.receiving_since is not None)

    # -- deadlines ------------------------------------------------------------------------------
    def expired(self, now: float, writer: Writer) -> Expiry | None:
        """The deadline that has passed at `now`, if any. While the writer is blocked only the send
        timeout counts; while an answer is under way none does."""
        if self.lingering_until is not None:
            return Expiry.LINGER_OVER if now > self.lingering_until else None
        if self.closing or self.switched:
            return None
        timeouts = self.timeouts
        if writer.blocked:
            return Expiry.SEND if writer.stalled(now, timeouts.send_s) else None
        if self.busy:
            return None
        since = self.receiving_since
        if since is not None:
            if self.in_body:
                since = self.last_activity  # a body must keep moving
            return Expiry.REQUEST if now - since > timeouts.header_s else None
        return Expiry.IDLE if now - self.last_activity > timeouts.idle_s else None
