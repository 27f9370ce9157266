"""The connection core's sans-IO lifecycle: which deadline has passed, table-driven, with `now` passed in."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.common.connection.state import ConnState, Expiry, Timeouts
from services.common.http1 import Headers, Request

T = Timeouts(header_s=10.0, idle_s=15.0, send_s=60.0)


@dataclass
class Writer:
    blocked: bool = False
    stall: bool = False

    def stalled(self, now: float, send_s: float) -> bool:
        assert send_s == T.send_s
        return self.stall


def state(**fields: object) -> ConnState:
    conn = ConnState(T, 100.0)
    for name, value in fields.items():
        setattr(conn, name, value)
    return conn


@pytest.mark.parametrize(("fields", "writer", "now", "expected"), [
    ({}, Writer(), 114.9, None),                                              # idle, not yet
    ({}, Writer(), 115.1, Expiry.IDLE),                                       # idle_s after the last activity
    ({"receiving_since": 100.0}, Writer(), 110.1, Expiry.REQUEST),           # a head must arrive in header_s
    ({"receiving_since": 100.0, "last_activity": 109.0}, Writer(), 110.1, Expiry.REQUEST),  # dripping: no
    ({"receiving_since": 90.0, "in_body": True}, Writer(), 109.9, None),     # a body only has to move
    ({"receiving_since": 90.0, "in_body": True}, Writer(), 110.1, Expiry.REQUEST),
    ({"busy": True}, Writer(), 1000.0, None),                                 # an answer under way: none
    ({"busy": True}, Writer(blocked=True, stall=True), 1000.0, Expiry.SEND),  # ...but the client must read
    ({"receiving_since": 0.0}, Writer(blocked=True), 1000.0, None),          # blocked: only the send timeout
    ({"closing": True}, Writer(blocked=True, stall=True), 1000.0, None),
    ({"switched": True}, Writer(), 1000.0, None),                             # a tunnel has no HTTP deadlines
    ({"closing": True, "lingering_until": 110.0}, Writer(), 110.0, None),
    ({"closing": True, "lingering_until": 110.0}, Writer(), 110.1, Expiry.LINGER_OVER),
])
def test_expired(fields: dict[str, object], writer: Writer, now: float, expected: Expiry | None) -> None:
    assert state(**fields).expired(now, writer) is expected


def test_a_request_runs_from_its_first_byte_to_its_end() -> None:
    conn = state(last_activity=101.0)
    conn.bytes_waiting()
    assert conn.receiving_since == 101.0
    conn.last_activity = 105.0
    conn.bytes_waiting()  # more of the same head: its deadline does not move
    conn.head_received()
    assert conn.receiving_since == 101.0 and conn.in_body and not conn.answered
    conn.message_received()
    assert conn.receiving_since is None and not conn.in_body


def test_a_head_parsed_at_once_starts_its_body_clock_then() -> None:
    conn = state(last_activity=103.0)
    conn.head_received()
    assert conn.receiving_since == 103.0


def test_bytes_waiting_behind_an_answer_get_their_deadline_when_it_ends() -> None:
    conn = state(busy=True)
    conn.bytes_waiting()
    assert conn.receiving_since is None
    conn.answer_ended(120.0)
    assert not conn.busy and conn.last_activity == 120.0  # idle time counts from the end of the answer
    conn.bytes_waiting()
    assert conn.receiving_since == 120.0


@pytest.mark.parametrize(("version", "connection", "draining", "expected"), [
    ("HTTP/1.1", None, False, True),
    ("HTTP/1.1", "close", False, False),
    ("HTTP/1.0", None, False, False),
    ("HTTP/1.0", "keep-alive", False, True),
    ("HTTP/1.1", None, True, False),  # a graceful stop: every answer closes
])
def test_keep_alive(version: str, connection: str | None, draining: bool, expected: bool) -> None:
    headers = Headers([("Host", "t")] + ([("Connection", connection)] if connection else []))
    assert state(draining=draining).keep_alive(Request("GET", "/", version, headers)) is expected


def test_lingering_lasts_the_header_timeout_and_a_close_ends_it() -> None:
    conn = state()
    conn.linger(200.0)
    assert conn.closing and conn.lingering_until == 210.0
    conn.close()
    assert conn.closing and conn.lingering_until is None


@pytest.mark.parametrize(("fields", "blocked", "close_now"), [
    ({}, False, True),                                          # idle
    ({"closing": True, "lingering_until": 110.0}, False, True),  # lingering: at once
    ({"busy": True}, False, False),                             # after its answer
    ({"receiving_since": 100.0}, False, False),                 # a request is arriving: answer it first
    ({}, True, False),                                          # the client still reads an answer
    ({"switched": True}, False, False),                         # a tunnel: until the drain's deadline
    ({"closing": True}, False, False),                          # already closed
])
def test_shutdown(fields: dict[str, object], blocked: bool, close_now: bool) -> None:
    conn = state(**fields)
    assert conn.shutdown(blocked) is close_now
    assert conn.draining
