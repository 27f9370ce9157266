"""The load driver's bookkeeping with a fake transport (no sockets, no clock reads that matter):
pipelining depth, the request budget, open-loop due times vs send times, errors by kind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from services.client.load.engine import Connection, Driver
from services.client.load.model import LoadPlan

REQUEST = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Cache: HIT\r\n\r\nok"


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default

    def abort(self) -> None:
        self.aborted = True

    def close(self) -> None:
        pass


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def connect(loop: asyncio.AbstractEventLoop, **fields: object) -> tuple[Driver, Connection, FakeTransport]:
    driver = Driver(LoadPlan("h", 1, REQUEST, **fields).validate(), loop)  # type: ignore[arg-type]
    conn, transport = Connection(driver), FakeTransport()
    conn.connection_made(transport)
    driver.connections[0] = conn
    return driver, conn, transport


def test_closed_loop_keeps_the_pipeline_full_until_the_budget_is_spent(
        loop: asyncio.AbstractEventLoop) -> None:
    driver, conn, transport = connect(loop, requests=5, pipeline=2)
    driver._refill(conn, 1_000)
    assert transport.written == [REQUEST * 2] and len(conn.inflight) == 2
    for _ in range(5):
        conn.data_received(OK)
    assert b"".join(transport.written) == REQUEST * 5 and driver.stats.issued == 5
    assert driver.stats.ok == 5 and driver.stats.x_cache == {"HIT": 5} and driver.stats.body_bytes == 10
    assert driver.done.done() and not driver.stats.uncorrected.total


def test_open_loop_measures_from_the_due_time_and_from_the_send(loop: asyncio.AbstractEventLoop) -> None:
    driver, conn, transport = connect(loop, requests=2, rate_rps=1000.0)
    conn.backlog.extend([1_000_000, 2_000_000])  # both due; the connection takes one at a time
    driver._refill(conn, 5_000_000)
    assert transport.written == [REQUEST] and list(conn.backlog) == [2_000_000]
    driver.on_replies(conn, conn.reader.feed(OK), 9_000_000)  # sent at 5 ms, answered at 9 ms
    driver.on_replies(conn, conn.reader.feed(OK), 10_000_000)  # sent at 9 ms (after the first answer)
    assert driver.stats.latency.total == driver.stats.uncorrected.total == 2
    assert driver.stats.latency.max == 8_000_000 and driver.stats.latency.min == 8_000_000  # 9−1, 10−2 ms
    assert driver.stats.uncorrected.max == 4_000_000 and driver.stats.uncorrected.min == 1_000_000


def test_error_statuses_and_close_are_counted_not_timed(loop: asyncio.AbstractEventLoop) -> None:
    driver, conn, transport = connect(loop, requests=3, pipeline=3)
    driver._refill(conn, 0)
    conn.data_received(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
                       b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert driver.stats.errors == {"http_503": 1} and driver.stats.ok == 1
    assert conn.failed == "closed" and transport.aborted and len(conn.inflight) == 1
    driver.stopping = True  # no reconnect in this test
    driver.on_lost(conn, conn.failed)
    assert driver.stats.errors == {"http_503": 1, "closed": 1} and driver.done.done()


def test_garbage_is_a_protocol_error(loop: asyncio.AbstractEventLoop) -> None:
    driver, conn, transport = connect(loop, requests=1)
    driver._refill(conn, 0)
    conn.data_received(b"SSH-2.0-OpenSSH\r\n\r\n")
    assert conn.failed == "protocol" and transport.aborted
