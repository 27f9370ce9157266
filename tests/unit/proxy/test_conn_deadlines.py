"""Client connection deadlines on a fake transport and a fake monotonic clock (issue 16 #1, #5, #13, #15;
issue 12: no real sleeps). `check_timeouts(now)` is what the server's sweeper calls."""

from __future__ import annotations

import asyncio

from services.common.http1 import Headers
from services.proxy.app import ProxyApp
from services.proxy.cache.entry import Entry
from services.proxy.conn import ClientConnection
from services.proxy.job import ProxyConfig
from tests.unit.fake_transport import FakeTransport

from .fakes import Clock, FakePool, reply, settle


def connect(**config: object) -> tuple[ProxyApp, ClientConnection, FakeTransport, Clock]:
    mono = Clock(100.0)
    settings: dict[str, object] = {"upstream": ("origin", 80), "access_log": False, "header_timeout_s": 10.0,
                                   "send_timeout_s": 60.0, "client_timeout_s": 60.0}
    settings.update(config)
    pool = FakePool([reply(200, [("Cache-Control", "no-store")], b"x" * 10)] * 4)
    app = ProxyApp(ProxyConfig(**settings), pool=pool, mono=mono)  # type: ignore[arg-type]
    transport = FakeTransport()
    conn = ClientConnection(app)
    conn.connection_made(transport)
    return app, conn, transport, mono


def test_a_request_head_trickling_in_gets_408_after_the_header_timeout() -> None:
    app, conn, transport, mono = connect()
    for byte in b"GET / HTTP/1.1\r\nHost: x\r\n":  # slowloris: one byte per second, never the blank line
        conn.data_received(bytes([byte]))
        mono.now += 1 if mono.now < 109 else 0
        conn.check_timeouts(mono.now)
    assert not transport.closed
    conn.check_timeouts(mono.now + 1.5)
    assert transport.ended and transport.data.startswith(b"HTTP/1.1 408 ")
    assert app.metrics.counts.request_timeouts == 1 and b"Connection: close" in transport.data


def test_an_error_answer_is_followed_by_a_bounded_lingering_close() -> None:
    """Half-closed after the 408, the client's later bytes read and dropped, closed a header timeout later:
    a close with unread bytes resets the connection, which can discard the answer (a CI run's slowloris
    client read a reset instead of the end)."""
    app, conn, transport, mono = connect()
    conn.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")
    mono.now += 10.5
    conn.check_timeouts(mono.now)
    answered = transport.data
    assert answered.startswith(b"HTTP/1.1 408 ") and transport.eof_written and not transport.closed
    conn.data_received(b"X: y\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    conn.check_timeouts(mono.now + 9.9)
    assert transport.data == answered and not transport.closed and not app.tasks  # nothing dispatched
    conn.check_timeouts(mono.now + 10.1)
    assert transport.closed and not transport.aborted and transport.data == answered


def test_a_graceful_stop_ends_a_lingering_close_at_once() -> None:
    _, conn, transport, mono = connect()
    conn.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")
    conn.check_timeouts(mono.now + 10.5)
    assert transport.eof_written and not transport.closed
    conn.shutdown()
    assert transport.closed and conn.closed


def test_a_stalled_body_gets_408_but_a_moving_one_does_not() -> None:
    app, conn, transport, mono = connect()
    conn.data_received(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    for _ in range(30):  # 30 s in all, but a byte every second: progress
        mono.now += 1
        conn.data_received(b"a")
        conn.check_timeouts(mono.now)
    assert not transport.closed
    conn.check_timeouts(mono.now + 10.5)
    assert transport.ended and transport.data.startswith(b"HTTP/1.1 408 ")
    assert app.bodies.used == 0  # the buffered part of the body is given back


def test_idle_keep_alive_closes_after_the_client_timeout_without_an_answer() -> None:
    _, conn, transport, mono = connect(client_timeout_s=5.0)
    conn.check_timeouts(mono.now + 4.9)
    assert not transport.closed
    conn.check_timeouts(mono.now + 5.1)
    assert transport.closed and transport.data == b""


def test_a_client_that_reads_nothing_is_dropped_after_the_send_timeout() -> None:
    app, conn, transport, mono = connect(send_timeout_s=3.0)
    conn.pause_writing()  # the transport's buffer is full: the client is not reading
    conn.check_timeouts(mono.now + 2.9)
    assert not transport.closed
    mono.now += 2.9
    conn.resume_writing()
    conn.pause_writing()
    conn.check_timeouts(mono.now + 2.9)  # paused again just now: the clock restarted
    assert not transport.closed
    conn.check_timeouts(mono.now + 3.1)
    assert transport.closed and conn.closed and app.metrics.counts.send_timeouts == 1


def test_shutdown_closes_idle_connections_at_once_and_busy_ones_after_their_response() -> None:
    async def main() -> None:
        _, idle, idle_transport, _ = connect()
        idle.shutdown()
        assert idle_transport.closed

        app, busy, transport, _ = connect()
        busy.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        assert busy.state.busy
        busy.shutdown()
        assert not transport.closed
        await settle(app)
        assert transport.closed and transport.data.startswith(b"HTTP/1.1 200 ")
        assert b"Connection: close" in transport.data and transport.data.endswith(b"x" * 10)

    asyncio.run(main())


def test_bodies_beyond_the_shared_budget_get_503_and_give_their_bytes_back() -> None:
    async def main() -> None:
        app, first, first_transport, _ = connect(body_buffer=1000)
        first.data_received(b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n" + b"a" * 900)
        assert app.bodies.used == 900 and not first_transport.closed
        second = ClientConnection(app)
        second_transport = FakeTransport()
        second.connection_made(second_transport)
        second.data_received(b"PUT /u HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n" + b"b" * 200)
        assert second_transport.data.startswith(b"HTTP/1.1 503 ") and second_transport.ended
        assert app.bodies.used == 900
        first.connection_lost(None)
        assert app.bodies.used == 0
        # GET bodies are dropped as they arrive: they cost nothing
        third = ClientConnection(app)
        third.connection_made(FakeTransport())
        third.data_received(b"GET /g HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"g" * 4000)
        assert app.bodies.used == 0

    asyncio.run(main())


def test_an_exception_while_routing_is_a_500_and_a_close_not_a_hang() -> None:
    async def main() -> None:
        app, conn, transport, _ = connect()

        def broken(key: str, headers: Headers) -> Entry | None:
            raise RuntimeError("boom")

        app.store.select = broken  # type: ignore[method-assign,assignment]
        conn.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        await settle(app)
        assert transport.data.startswith(b"HTTP/1.1 500 ") and transport.ended

    asyncio.run(main())


def test_keep_alive_idle_time_counts_from_the_end_of_a_long_response() -> None:
    async def main() -> None:
        app, conn, transport, mono = connect(client_timeout_s=60.0)
        conn.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        mono.now += 100  # a response that took longer than the keep-alive timeout
        await settle(app)
        conn.check_timeouts(mono.now + 59)
        assert not transport.closed and transport.data.startswith(b"HTTP/1.1 200 ")
        conn.check_timeouts(mono.now + 61)
        assert transport.closed

    asyncio.run(main())
