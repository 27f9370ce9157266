"""`HttpConnection.send_body` (issue 25): a shared body goes out window by window as the client takes it,
never as a copy per client, and ends its answer itself; the proxy's fast and full paths use it for stored
bodies. Fake transports, no sockets, no sleeps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.common.connection.lifecycle import Connections
from services.common.connection.protocol import BODY_WHOLE, BODY_WINDOW, HttpConnection
from services.common.connection.state import Timeouts
from services.common.http1 import Limits, Request
from services.proxy.conn import ClientConnection
from tests.unit.fake_transport import FakeTransport
from tests.unit.proxy.fakes import Clock, FakePool, make_app, settle, store

BIG = b"".join(bytes([i % 251]) * 1000 for i in range(1100))  # 1.1 MB, more than four windows
WHOLE = b"w" * (1 << 20)  # a 1 MiB hit: one write, as before issue 25


class SlowTransport(FakeTransport):
    """Holds what is written until `take()`; pauses its protocol past `high` bytes, like asyncio's."""

    def __init__(self, high: int = 64 * 1024) -> None:
        super().__init__()
        self.high = high
        self.held = 0
        self.protocol: asyncio.Protocol | None = None
        self.paused = False
        self.views = 0

    def write(self, data: Any) -> None:
        if self.closed:
            return
        self.views += isinstance(data, memoryview)
        super().write(data)
        self.held += len(data)
        if self.held > self.high and not self.paused and self.protocol is not None:
            self.paused = True
            self.protocol.pause_writing()

    def take(self) -> None:
        """The client read everything written so far."""
        self.held = 0
        if self.paused and self.protocol is not None:
            self.paused = False
            self.protocol.resume_writing()


class Echo(HttpConnection):
    """Answers `GET /big` with a 200 whose body is BIG (shared), anything else with a small 200."""

    def _on_request(self, request: Request) -> None:
        self.target = request.target
        self.keep = request.headers.get("connection") != "close"

    def _on_end(self) -> None:
        body = {"/big": BIG, "/whole": WHOLE}.get(self.target, b"small")
        self.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        if self.send_body(body, self.keep) and not self.keep:
            self.close()

    def _error_answer(self, status: int, message: str) -> bytes:
        return b"HTTP/1.1 %d x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n" % status


def connect(transport: FakeTransport) -> Echo:
    conn = Echo(Limits(), Timeouts(10.0, 15.0, 60.0), Clock(), Connections())
    if isinstance(transport, SlowTransport):
        transport.protocol = conn
    conn.connection_made(transport)
    return conn


def bodies(data: bytes) -> list[bytes]:
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        out.append(rest[:length])
        data = rest[length:]
    return out


def test_a_large_body_goes_out_as_the_client_takes_it_then_the_next_request() -> None:
    transport = SlowTransport()
    conn = connect(transport)
    conn.data_received(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /s HTTP/1.1\r\nHost: t\r\n\r\n")
    assert conn.sending_body and conn.state.busy and transport.views == 1  # one window, then paused
    rounds = 0
    while conn.sending_body:
        transport.take()
        rounds += 1
    assert rounds == -(-len(BIG) // BODY_WINDOW) - 1 and transport.views == rounds + 1
    assert bodies(transport.data) == [BIG, b"small"] and not conn.state.busy and not transport.closed


def test_small_bodies_and_a_socket_that_takes_everything_are_written_at_once() -> None:
    transport = FakeTransport()  # never pauses
    conn = connect(transport)
    conn.data_received(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /s HTTP/1.1\r\nHost: t\r\n\r\n")
    assert not conn.sending_body and bodies(transport.data) == [BIG, b"small"]


def test_a_body_up_to_body_whole_is_one_write_even_to_a_slow_client() -> None:
    """Windows cost a 1 MiB hit 13 % more CPU: up to BODY_WHOLE the body is one write, as before."""
    assert len(BIG) > BODY_WHOLE >= len(WHOLE)
    transport = SlowTransport()
    conn = connect(transport)
    conn.data_received(b"GET /whole HTTP/1.1\r\nHost: t\r\n\r\n")
    assert not conn.sending_body and transport.views == 0 and bodies(transport.data) == [WHOLE]


@pytest.mark.parametrize("keep", [True, False])
def test_the_last_window_ends_the_answer_keep_alive_or_close(keep: bool) -> None:
    transport = SlowTransport()
    conn = connect(transport)
    close = b"" if keep else b"Connection: close\r\n"
    conn.data_received(b"GET /big HTTP/1.1\r\nHost: t\r\n" + close + b"\r\n")
    assert not transport.closed
    while conn.sending_body:
        transport.take()
    assert transport.closed is not keep and bodies(transport.data) == [BIG]


def test_a_client_gone_mid_body_gets_nothing_more() -> None:
    transport = SlowTransport()
    conn = connect(transport)
    conn.data_received(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
    written = len(transport.data)
    conn.connection_lost(None)
    transport.take()
    assert not conn.sending_body and len(transport.data) == written < len(BIG)


@pytest.mark.parametrize("extra", [b"", b"Accept: */*\r\nCache-Control: max-stale=0\r\n"])  # fast, full
def test_proxy_serves_a_large_stored_body_window_by_window(extra: bytes) -> None:
    async def main() -> None:
        app = make_app(FakePool(down=True), Clock())
        store(app, "/big", [("Cache-Control", "max-age=600")], BIG)
        transport = SlowTransport()
        conn = ClientConnection(app)
        transport.protocol = conn
        conn.connection_made(transport)
        conn.data_received(b"GET /big HTTP/1.1\r\nHost: t\r\n" + extra + b"\r\n" +
                           b"GET /big HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        await settle(app)
        assert conn.sending_body and transport.views >= 1
        while conn.sending_body:
            transport.take()
            await settle(app)
        answers = transport.data.split(b"HTTP/1.1 200 OK")[1:]
        assert len(answers) == 2 and all(a.endswith(BIG) for a in answers) and transport.closed

    asyncio.run(main())
