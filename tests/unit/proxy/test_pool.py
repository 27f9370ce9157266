"""The upstream pool does not reuse a connection idle past `idle_timeout_s` (servers close them around
then, and a request sent into that close is lost or repeated)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from services.common.http1 import EndOfMessage, Headers, Response
from services.proxy.upstream import Pool, UpstreamConnection, UpstreamError

OK = Response(200, "OK", "HTTP/1.1", Headers())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_idle_connections_are_reused_until_the_idle_timeout() -> None:
    async def body() -> None:
        clock = Clock()
        pool = Pool(idle_timeout_s=4.0, clock=clock, connect_timeout_s=1.0)
        conn = UpstreamConnection()
        pool.release(("127.0.0.1", 9), conn, OK)
        clock.now += 3.9
        assert await pool.acquire(("127.0.0.1", 9)) == (conn, True)
        pool.release(("127.0.0.1", 9), conn, OK)
        clock.now += 4.1
        with contextlib.suppress(UpstreamError):  # too old: closed, and a new connection is attempted
            fresh, reused = await pool.acquire(("127.0.0.1", 9))
            fresh.close()
            assert not reused
        assert conn.closed and pool.reuses == 1

    asyncio.run(body())


def test_sweep_closes_what_is_past_the_idle_timeout_and_keeps_the_rest() -> None:
    clock = Clock()
    pool = Pool(idle_timeout_s=4.0, clock=clock)
    old, young, other = UpstreamConnection(), UpstreamConnection(), UpstreamConnection()
    pool.release(("a", 1), old, OK)
    pool.release(("b", 2), other, OK)
    clock.now += 2.0
    pool.release(("a", 1), young, OK)
    clock.now += 2.5
    assert pool.sweep() == 2 and old.closed and other.closed and not young.closed
    assert pool.idle == {("a", 1): [young]}
    clock.now += 4.0
    assert pool.sweep() == 1 and pool.idle == {}


def test_an_upstream_connection_waits_for_its_events_and_for_the_upstream_to_read() -> None:
    async def body() -> None:
        conn = UpstreamConnection()
        conn.parser.expect("GET")
        waiting = asyncio.ensure_future(conn.next_event(None))
        await asyncio.sleep(0)
        conn.data_received(b"HTTP/1.1 204 No Content\r\n\r\n")  # wakes the waiting reader
        response = await waiting
        assert isinstance(response, Response) and response.status == 204
        assert isinstance(await conn.next_event(0), EndOfMessage)
        with pytest.raises(UpstreamError, match="504 upstream timed out"):
            await conn.next_event(0)  # nothing more arrives: the deadline
        conn.pause_writing()
        with pytest.raises(UpstreamError, match="504 upstream does not read the request body"):
            await conn.drain(0)
        draining = asyncio.ensure_future(conn.drain(60))
        await asyncio.sleep(0)
        conn.resume_writing()  # wakes the waiting writer
        await draining
        conn.pause_writing()
        draining = asyncio.ensure_future(conn.drain(60))
        await asyncio.sleep(0)
        conn.connection_lost(None)
        with pytest.raises(UpstreamError, match="502 upstream connection lost"):
            await draining

    asyncio.run(body())
