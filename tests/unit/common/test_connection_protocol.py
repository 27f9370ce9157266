"""The connection core's shell, through both services that use it: the server's `HttpProtocol` and the
proxy's `ClientConnection` must keep the same lifecycle (fake transport, fake clocks, no sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.clock import FakeClock
from services.common.connection.lifecycle import Connections
from services.common.connection.protocol import HttpConnection
from services.common.connection.state import Timeouts
from services.proxy.app import ProxyApp
from services.proxy.conn import ClientConnection
from services.proxy.job import ProxyConfig
from services.server.app import ServerConfig, make_context
from services.server.protocol import HttpProtocol
from tests.unit.fake_transport import FakeTransport
from tests.unit.proxy.fakes import Clock, FakePool, reply, settle, store

GET = b"GET /a.html HTTP/1.1\r\nHost: t\r\n\r\n"


class ClosingTransport(FakeTransport):
    """Like a real transport, writes nothing once closed."""

    def write(self, data: Any) -> None:
        if not self.closed:
            super().write(data)


class Subject:
    """One service's connections on a fake clock: `connect`, `tick` (the sweeper), `settle` (its tasks)."""

    def __init__(self, make: Callable[[], HttpConnection], advance: Callable[[float], float],
                 tasks: Callable[[], Any]) -> None:
        self.make, self.advance, self.tasks = make, advance, tasks

    def connect(self, transport: FakeTransport | None = None) -> tuple[HttpConnection, FakeTransport]:
        conn, transport = self.make(), transport or FakeTransport()
        conn.connection_made(transport)
        return conn, transport

    def tick(self, conn: HttpConnection, seconds: float) -> None:
        conn.check_timeouts(self.advance(seconds))

    async def settle(self) -> None:
        await self.tasks()


def server(tmp_path: Path) -> Subject:
    (tmp_path / "a.html").write_bytes(b"<p>a</p>\n")
    clock = FakeClock()
    ctx = make_context(ServerConfig(root=str(tmp_path), access_log=False, timeouts=Timeouts(10, 15, 60)),
                       clock)
    live = Connections()

    def advance(seconds: float) -> float:
        clock.advance_ns(int(seconds * 1e9))
        return ctx.now()

    async def nothing() -> None:
        await asyncio.sleep(0)

    return Subject(lambda: HttpProtocol(ctx, live), advance, nothing)


def proxy(tmp_path: Path) -> Subject:
    mono = Clock(100.0)
    pool = FakePool([reply(200, [("Cache-Control", "no-store")], b"miss")] * 4)
    config = ProxyConfig(upstream=("origin", 80), access_log=False, header_timeout_s=10.0,
                         client_timeout_s=15.0, send_timeout_s=60.0)
    app = ProxyApp(config, now=Clock(), pool=pool, mono=mono)
    store(app, "/a.html", [("Cache-Control", "max-age=600")], b"<p>a</p>\n")

    def advance(seconds: float) -> float:
        mono.now += seconds
        return mono.now

    return Subject(lambda: ClientConnection(app), advance, lambda: settle(app))


@pytest.fixture(params=[server, proxy], ids=["server", "proxy"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    make: Callable[[Path], Subject] = request.param
    yield make(tmp_path)


def run(test: Callable[[], Any]) -> None:
    asyncio.run(test())


def test_an_error_answer_lingers_then_closes(subject: Subject) -> None:
    conn, transport = subject.connect()
    conn.data_received(b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n")
    answered = transport.data
    assert answered.startswith(b"HTTP/1.1 400 ") and b"Connection: close\r\n" in answered
    assert transport.eof_written and not transport.closed
    conn.data_received(GET)  # read and dropped: never answered
    subject.tick(conn, 9.9)
    assert transport.data == answered and not transport.closed
    subject.tick(conn, 0.2)
    assert transport.closed and not transport.aborted and transport.data == answered


def test_a_graceful_stop_ends_a_lingering_close_at_once(subject: Subject) -> None:
    conn, transport = subject.connect()
    conn.data_received(b"GET / HTTP/1.1\r\n\r\n")  # no Host: 400
    assert transport.eof_written and not transport.closed
    conn.shutdown()
    assert transport.closed and not transport.aborted


def test_an_http_1_0_keep_alive_client_is_told_the_connection_persists(subject: Subject) -> None:
    conn, transport = subject.connect()
    conn.data_received(b"GET /a.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert b"\r\nConnection: keep-alive\r\n" in transport.data and not transport.ended
    conn.data_received(b"GET /a.html HTTP/1.0\r\n\r\n")
    assert transport.data.count(b"<p>a</p>") == 2 and transport.closed
    first, second = transport.data.split(b"<p>a</p>\n")[:2]
    assert b"Connection: close" not in first and b"Connection: close" in second


def test_a_partial_head_behind_an_answered_request_gets_the_header_deadline(subject: Subject) -> None:
    conn, transport = subject.connect()
    conn.data_received(GET + b"GET /a.html HTTP/1.1\r\nHo")
    assert transport.data.startswith(b"HTTP/1.1 200 ")
    subject.tick(conn, 10.5)
    assert transport.data.count(b"HTTP/1.1 408 ") == 1 and transport.eof_written


def test_body_bytes_that_look_like_a_request_are_never_answered_as_one(subject: Subject) -> None:
    async def main() -> None:
        conn, transport = subject.connect()
        conn.data_received(b"PUT /u HTTP/1.1\r\nHost: t\r\nContent-Length: 32\r\n\r\n")
        conn.data_received(GET)  # the body, in a read of its own
        await subject.settle()
        assert transport.data.count(b"HTTP/1.1 ") == 1 and b"<p>a</p>" not in transport.data

    run(main)


def test_the_client_half_closing_still_gets_every_answer_then_a_close(subject: Subject) -> None:
    async def main() -> None:
        conn, transport = subject.connect(ClosingTransport())
        conn.data_received(GET + b"GET /m HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
        if not conn.eof_received():
            transport.close()  # what asyncio does when eof_received returns a false value
        await subject.settle()
        assert transport.data.count(b"HTTP/1.1 ") == 3 and transport.closed and not transport.aborted

    run(main)


def test_a_paused_writer_takes_no_more_requests_until_it_resumes(subject: Subject) -> None:
    conn, transport = subject.connect()
    conn.data_received(GET)  # answered: the server's fast path learns the target, the proxy's has it stored
    answered = transport.data
    conn.pause_writing()
    conn.data_received(GET)  # a plain GET in a read of its own: not even the fast path answers it now
    conn.data_received(GET + GET)
    assert transport.data == answered
    conn.resume_writing()
    assert transport.data.count(b"HTTP/1.1 200 ") == 4


def test_a_request_behind_an_answer_under_way_waits_for_it(subject: Subject) -> None:
    """An answer that outlives its callback (a sendfile, an upstream fetch) keeps pipelined requests, fast
    ones included, waiting until `answer_ended`: answers go out in request order."""
    async def main() -> None:
        conn, transport = subject.connect()
        conn.data_received(GET)
        answered = transport.data

        def under_way() -> None:  # the request is complete; its answer runs on (a task, a sendfile)
            conn.state.busy = True

        conn._on_request = lambda request: None  # type: ignore[method-assign]
        conn._on_end = under_way  # type: ignore[method-assign]
        conn.data_received(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        del conn._on_request, conn._on_end  # the service's own again for what follows
        conn.data_received(GET)  # in a read of its own, the parser idle: the fast path's case
        await subject.settle()
        assert transport.data == answered
        conn.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        conn.answer_ended(True)
        await subject.settle()
        later = transport.data[len(answered):]
        assert later.startswith(b"HTTP/1.1 204 ") and later.count(b"HTTP/1.1 200 ") == 1

    run(main)


def test_a_crash_after_the_answer_began_aborts_instead_of_a_second_answer(subject: Subject) -> None:
    conn, transport = subject.connect()

    def crash_after_writing(*args: Any) -> None:
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart")
        raise RuntimeError("bug")

    conn._on_end = crash_after_writing  # type: ignore[method-assign]
    conn._on_request = lambda request: None  # type: ignore[method-assign]
    conn.data_received(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
    assert transport.aborted and transport.data.count(b"HTTP/1.1 ") == 1


def test_a_crash_before_any_answer_is_a_500_and_a_lingering_close(subject: Subject) -> None:
    conn, transport = subject.connect()

    def crash(*args: Any) -> None:
        raise RuntimeError("bug")

    conn._on_request = crash  # type: ignore[method-assign,assignment]
    conn.data_received(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
    assert transport.data.startswith(b"HTTP/1.1 500 ") and transport.eof_written and not transport.aborted


def test_connections_accepted_during_a_drain_close_after_their_first_answer(subject: Subject) -> None:
    conn, transport = subject.connect()
    conn.connections.stopping = True
    late, late_transport = subject.connect()
    late.data_received(GET)
    assert b"Connection: close\r\n" in late_transport.data and late_transport.closed
    conn.data_received(GET)
    assert not transport.closed  # accepted before: its drain comes from shutdown()
