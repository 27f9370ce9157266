"""A fake client transport and a scripted fake upstream for request-cycle tests (no sockets, no sleeps)."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Iterable
from typing import Any

from services.common.http1 import (
    Data,
    EndOfMessage,
    Headers,
    Response,
    http_date,
)
from services.proxy.app import ProxyApp
from services.proxy.cache.entry import make_entry
from services.proxy.conn import ClientConnection
from services.proxy.job import ProxyConfig
from services.proxy.respond import entry_head
from services.proxy.upstream import Pool, UpstreamConnection, UpstreamError
from tests.unit.fake_transport import FakeTransport

T0 = 1_700_000_000.0
Event = Response | Data | EndOfMessage | UpstreamError


def reply(status: int = 200, fields: Iterable[tuple[str, str]] = (), body: bytes = b"",
          reason: str | None = None, *, length: bool = True) -> list[Event]:
    """The events of one upstream response (Date added when absent, Content-Length unless length=False)."""
    headers = Headers(list(fields))
    if "date" not in headers:
        headers.add("Date", http_date(T0))
    if length and status >= 200 and status not in (204, 304):
        headers.add("Content-Length", str(len(body)))
    events: list[Event] = [Response(status, reason or "", "HTTP/1.1", headers)]
    if body:
        events.append(Data(body))
    return [*events, EndOfMessage()]


class FakeUpstream(UpstreamConnection):
    """One upstream connection that answers each request with the next scripted list of events."""

    def __init__(self, pool: FakePool) -> None:
        super().__init__()
        self.pool = pool
        self.script: deque[Event] = deque()

    def send(self, method: str, data: bytes, body: bytes = b"") -> None:
        self.pool.sent.append(data + body)
        self.script = deque(self.pool.replies.popleft() if self.pool.replies else
                            [UpstreamError(502, "upstream closed the connection")])

    async def next_event(self, timeout_s: float | None) -> Response | Data | EndOfMessage:
        await asyncio.sleep(0)
        if not self.script:
            raise UpstreamError(502, "upstream closed the connection")
        item = self.script.popleft()
        if isinstance(item, UpstreamError):
            self.script.appendleft(item)
            raise item
        return item

    def close(self) -> None:
        self.closed = True


class FakePool(Pool):
    """Scripted upstream: `replies` answer the requests in order; `down` makes every connect fail (502)."""

    def __init__(self, replies: Iterable[list[Event]] = (), *, down: bool = False, reused: int = 0) -> None:
        """`reused`: how many of the first connections handed out count as reused from the pool."""
        super().__init__()
        self.replies: deque[list[Event]] = deque(replies)
        self.sent: list[bytes] = []
        self.down = down
        self.reused = reused

    async def acquire(self, origin: tuple[str, int]) -> tuple[UpstreamConnection, bool]:
        if self.down:
            raise UpstreamError(502, f"cannot connect to {origin[0]}:{origin[1]}")
        if self.reused > 0:
            self.reused -= 1
            return FakeUpstream(self), True
        self.connects += 1
        return FakeUpstream(self), False

    def release(self, origin: tuple[str, int], conn: UpstreamConnection, response: Response) -> None:
        pass

    @property
    def requests(self) -> list[bytes]:
        """The request heads sent upstream."""
        return [data.split(b"\r\n\r\n", 1)[0] for data in self.sent]


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_app(pool: FakePool | None = None, clock: Clock | None = None, **config: Any) -> ProxyApp:
    settings: dict[str, Any] = {"upstream": ("origin", 80), "access_log": False}
    settings.update(config)
    return ProxyApp(ProxyConfig(**settings), now=clock or Clock(), pool=pool or FakePool(down=True))


def store(app: ProxyApp, key: str, fields: Iterable[tuple[str, str]], body: bytes = b"stored",
          status: int = 200, at: float = T0, request: Headers | None = None) -> None:
    headers = Headers([("Date", http_date(at)), *fields])
    entry = make_entry(key, status, "OK", headers, body, request or Headers(), at, at)
    entry.head = entry_head(entry)
    app.store.put(entry)


async def settle(app: ProxyApp) -> None:
    """Let every task of the request cycle finish (the fakes never block)."""
    for _ in range(10_000):
        await asyncio.sleep(0)
        if not app.tasks:
            return
    raise AssertionError("request cycle did not finish")


async def converse(app: ProxyApp, chunks: Iterable[bytes], eof: bool = False) -> tuple[bytes, bool]:
    """Feed `chunks` to one client connection (then the client's end of stream when `eof`); the bytes it
    wrote and whether it closed."""
    transport = FakeTransport()
    conn = ClientConnection(app)
    conn.connection_made(transport)
    for chunk in chunks:
        if not transport.ended:
            conn.data_received(chunk)
            if app.tasks:  # a chunk that started no task has nothing to wait for (no loop turn per byte)
                await settle(app)
    if eof and not transport.ended and not conn.eof_received():
        transport.close()
    await settle(app)
    conn.connection_lost(None)
    return transport.data, transport.ended


_DATE = re.compile(rb"\r\nDate: [^\r]*")


def without_date(data: bytes) -> bytes:
    """Responses the proxy makes itself carry the wall-clock Date; blank it for comparisons."""
    return _DATE.sub(b"\r\nDate: -", data)
