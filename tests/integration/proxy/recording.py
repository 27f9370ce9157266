"""A recording origin: keeps the exact bytes each connection received, and answers every request as soon
as its head is parsed (before its body, as many servers do, so a proxy that announces a body it never
sends desynchronises it the way issue 16 #11 found). Answers: `GET /PATH` → 200 with body `PATH`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from services.common.http1 import Data, EndOfMessage, HTTPError, Request, RequestParser, build_response_head


@dataclass
class Received:
    request: Request
    body: bytes = b""
    complete: bool = False


@dataclass
class Recording:
    raw: bytearray = field(default_factory=bytearray)
    received: list[Received] = field(default_factory=list)
    error: str | None = None


class RecordingOrigin:
    def __init__(self, bodies: dict[str, bytes] | None = None, max_age_s: int = 60) -> None:
        self.bodies = bodies or {}
        self.max_age_s = max_age_s
        self.connections: list[Recording] = []
        self.transports: list[asyncio.Transport] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for transport in self.transports:
                transport.abort()
            await self.server.wait_closed()

    def requests(self) -> list[Received]:
        return [r for conn in self.connections for r in conn.received]

    def answer(self, request: Request) -> bytes:
        path = request.target.split("?")[0]
        body = self.bodies.get(path, path.encode())
        head = build_response_head(200, [("Cache-Control", f"max-age={self.max_age_s}"),
                                         ("Content-Length", str(len(body)))])
        return head + (b"" if request.method == "HEAD" else body)


class _Protocol(asyncio.Protocol):
    def __init__(self, origin: RecordingOrigin) -> None:
        self.origin = origin
        self.record = Recording()
        origin.connections.append(self.record)
        self.parser = RequestParser()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.origin.transports.append(transport)

    def data_received(self, data: bytes) -> None:
        self.record.raw += data
        self.parser.feed(data)
        try:
            while (event := self.parser.next_event()) is not None:
                if isinstance(event, Request):
                    self.record.received.append(Received(event))
                    if self.transport is not None:
                        self.transport.write(self.origin.answer(event))
                elif isinstance(event, Data):
                    self.record.received[-1].body += event.data
                elif isinstance(event, EndOfMessage):
                    self.record.received[-1].complete = True
        except HTTPError as exc:
            self.record.error = exc.message
            if self.transport is not None:
                self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                     b"Connection: close\r\n\r\n")
                self.transport.close()
