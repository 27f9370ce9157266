"""A scripted origin, an in-process proxy and a tiny HTTP client for the proxy's integration tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from services.common.http1 import (
    Data,
    EndOfMessage,
    Headers,
    Request,
    RequestParser,
    Response,
    ResponseParser,
    build_response_head,
    encode_chunk,
    encode_last_chunk,
)
from services.proxy.job import ProxyConfig
from services.proxy.server import ProxyServer


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("Cache-Control", "max-age=60")])
    body: bytes = b"hello"
    delay_s: float = 0.0
    chunked: bool = False
    session_cookie: bool = False  # add `Set-Cookie: session=N`, N counting this path's requests
    at_head: bool = False  # answer as soon as the head is in, without reading the body (a 413 upload)


class Origin:
    """An HTTP origin on 127.0.0.1 answering from `routes`; counts requests per path, keeps bodies."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.counts: Counter[str] = Counter()
        self.bodies: list[bytes] = []
        self.requests: list[Request] = []
        self.server: asyncio.Server | None = None
        self.transports: set[asyncio.Transport] = set()
        self.port = 0

    async def start(self, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _OriginProtocol(self), "127.0.0.1", port,
                                               reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for transport in list(self.transports):
                transport.abort()
            await self.server.wait_closed()


class _OriginProtocol(asyncio.Protocol):
    def __init__(self, origin: Origin) -> None:
        self.origin = origin
        self.parser = RequestParser()
        self.transport: asyncio.Transport | None = None
        self.request: Request | None = None
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.origin.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.origin.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.parser.feed(data)
        while (event := self.parser.next_event()) is not None:
            if isinstance(event, Request):
                self.request, self.body = event, b""
                if self.origin.routes.get(event.target.split("?")[0], Reply()).at_head:
                    asyncio.get_running_loop().create_task(self._answer(event, b""))
                    self.request = None
            elif isinstance(event, Data):
                self.body += event.data
            elif isinstance(event, EndOfMessage) and self.request is not None:
                asyncio.get_running_loop().create_task(self._answer(self.request, self.body))

    async def _answer(self, request: Request, body: bytes) -> None:
        path = request.target.split("?")[0]
        self.origin.counts[path] += 1
        serial = self.origin.counts[path]
        self.origin.bodies.append(body)
        self.origin.requests.append(request)
        reply = self.origin.routes.get(path, Reply(404, [], b"not found"))
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        headers = list(reply.headers)
        if reply.session_cookie:
            headers.append(("Set-Cookie", f"session={serial}"))
        if reply.chunked:
            data = build_response_head(reply.status, [*headers, ("Transfer-Encoding", "chunked")])
            data += encode_chunk(reply.body[:3]) + encode_chunk(reply.body[3:]) + encode_last_chunk()
        else:
            data = build_response_head(reply.status, [*headers, ("Content-Length", str(len(reply.body)))])
            data += b"" if request.method == "HEAD" else reply.body
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


async def start_proxy(origin_port: int, **overrides: object) -> ProxyServer:
    settings: dict[str, object] = {"upstream": ("127.0.0.1", origin_port), "access_log": False,
                                   "upstream_timeout_s": 2.0, "connect_timeout_s": 1.0}
    settings.update(overrides)
    server = ProxyServer(ProxyConfig(**settings))  # type: ignore[arg-type]
    await server.start("127.0.0.1", 0, 0)
    return server


@dataclass
class Answer:
    status: int
    headers: Headers
    body: bytes


async def request(port: int, raw: bytes, *, method: str = "GET", timeout_s: float = 5.0) -> Answer:
    """Send one raw request on a new connection and read one response."""
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(raw)
            parser = ResponseParser()
            parser.expect(method)
            head: Response | None = None
            body = b""
            while True:
                event = parser.next_event()
                if event is None:
                    data = await reader.read(65536)
                    if not data:
                        parser.feed_eof()
                    else:
                        parser.feed(data)
                    continue
                if isinstance(event, Response):
                    head = event
                elif isinstance(event, Data):
                    body += event.data
                elif isinstance(event, EndOfMessage):
                    assert head is not None
                    return Answer(head.status, head.headers, body)
        finally:
            writer.close()


async def get(port: int, path: str, *extra: str, method: str = "GET") -> Answer:
    lines = "".join(f"{line}\r\n" for line in extra)
    raw = f"{method} {path} HTTP/1.1\r\nHost: test\r\n{lines}\r\n".encode()
    return await request(port, raw, method=method)


def proxy_port(server: ProxyServer) -> int:
    return int(server.http_address.rsplit(":", 1)[1])
