"""CONNECT tunnels (forward mode, allowed ports only): bytes both ways after `200 Connection Established`.

The tunnel talks to the client side only through `TunnelClient` (write, half-close, close, attach), so it
does not depend on the connection class.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from . import respond
from .target import Origin


class TunnelClient(Protocol):
    """What a tunnel needs from the client connection."""

    def write(self, data: bytes) -> None: ...

    def write_eof(self) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def attach_tunnel(self, upstream: asyncio.Transport) -> None: ...


class _TunnelUpstream(asyncio.Protocol):
    def __init__(self, client: TunnelClient) -> None:
        self.client = client

    def data_received(self, data: bytes) -> None:
        self.client.write(data)

    def eof_received(self) -> bool:
        self.client.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


async def open_tunnel(client: TunnelClient, origin: Origin, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_s):
            transport, _ = await loop.create_connection(lambda: _TunnelUpstream(client), origin[0], origin[1])
    except (OSError, TimeoutError) as exc:
        status = 504 if isinstance(exc, TimeoutError) else 502
        client.write(respond.error_response(status, f"cannot reach {origin[0]}:{origin[1]}"))
        client.abort()
        return
    client.attach_tunnel(transport)
    client.write(b"HTTP/1.1 200 Connection Established\r\nVia: " + respond.VIA.encode() + b"\r\n\r\n")
