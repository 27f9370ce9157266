"""CONNECT tunnels (forward mode, allowed ports only): bytes both ways after `200 Connection Established`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from . import respond
from .target import Origin

if TYPE_CHECKING:
    from .conn import ClientConnection


class _TunnelUpstream(asyncio.Protocol):
    def __init__(self, client: ClientConnection) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def eof_received(self) -> bool:
        transport = self.client.transport
        if transport is not None and transport.can_write_eof():
            transport.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client.transport is not None:
            self.client.transport.close()


async def open_tunnel(client: ClientConnection, origin: Origin, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            transport, _ = await loop.create_connection(lambda: _TunnelUpstream(client), origin[0], origin[1])
    except (OSError, TimeoutError) as exc:
        status = 504 if isinstance(exc, TimeoutError) else 502
        client.write(respond.error_response(status, f"cannot reach {origin[0]}:{origin[1]}", close=True))
        client.abort()
        return
    client.tunnel = transport
    client.write(b"HTTP/1.1 200 Connection Established\r\nVia: " + respond.VIA.encode() + b"\r\n\r\n")
