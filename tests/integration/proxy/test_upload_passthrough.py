"""Uploads pass through the proxy uncached, as they arrive: a forwarded body above 64 KiB with a
Content-Length goes upstream while the client still sends it, held to a small window (reading from the
client pauses while the origin lags), and an origin that answers early (a 413) ends the upload cleanly."""

from __future__ import annotations

import asyncio

from services.proxy.body import WINDOW_BYTES

from .harness import Origin, Reply, proxy_port
from .test_reliability import closed_by_peer, run

SIZE = 8 * 1024 * 1024
READ_BYTES = 256 * 1024  # asyncio's transports read up to this much at once


async def upload(port: int, path: str, size: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {size}\r\n\r\n".encode())
    return reader, writer


def test_a_large_upload_streams_through_and_never_touches_the_body_budget() -> None:
    async def body(origin: Origin, server: object) -> None:
        origin.routes["/sink"] = Reply(200, [], b"counted")
        port = proxy_port(server)  # type: ignore[arg-type]
        reader, writer = await upload(port, "/sink", SIZE)
        for _ in range(SIZE // 65536):
            writer.write(b"u" * 65536)
            await writer.drain()
            assert server.app.bodies.used == 0  # type: ignore[attr-defined]
        answer = await asyncio.wait_for(reader.readuntil(b"counted"), 10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 ") and b"X-Cache: MISS" in answer
        assert origin.bodies == [b"u" * SIZE]
        assert origin.requests[0].headers.get("content-length") == str(SIZE)

    run(body, body_buffer=1 << 20)  # an 8 MiB body through a 1 MiB budget: it was never held whole


def test_a_slow_origin_holds_the_client_back_instead_of_memory() -> None:
    """The origin reads nothing: the proxy keeps at most its window and pauses reading from the client,
    so the client's writes stall too, after what the sockets' buffers on the way hold (a few MiB each on
    loopback, hence the large upload)."""
    async def body(origin: Origin, server: object) -> None:
        stalled: list[asyncio.Transport] = []
        port = proxy_port(server)  # type: ignore[arg-type]
        _, writer = await upload(port, "/slow", 8 * SIZE)
        await asyncio.sleep(0.3)
        for transport in list(origin.transports):  # the origin stops reading the upload
            transport.pause_reading()
            stalled.append(transport)
        sent = 0
        try:
            async with asyncio.timeout(2.0):
                while sent < 8 * SIZE:
                    writer.write(b"s" * 65536)
                    await writer.drain()
                    sent += 65536
        except TimeoutError:
            pass
        conns = server.app.connections.snapshot()  # type: ignore[attr-defined]
        held = sum(c.stream.held for c in conns if getattr(c, "stream", None) is not None)
        assert sent < 8 * SIZE, "the client was never held back"
        assert held <= WINDOW_BYTES + READ_BYTES, held  # the window plus the read that crossed it
        for transport in stalled:
            transport.resume_reading()
        writer.close()

    run(body)


def test_an_early_413_from_the_origin_ends_the_upload_cleanly() -> None:
    """The origin refuses at the head (as the server's sink does above --sink-max): the client reads the
    413, the rest of its body is dropped, and the connection ends without a reset."""
    async def body(origin: Origin, server: object) -> None:
        origin.routes["/full"] = Reply(413, [("Connection", "close")], b"too large", at_head=True)
        port = proxy_port(server)  # type: ignore[arg-type]
        reader, writer = await upload(port, "/full", SIZE)
        writer.write(b"f" * 65536 * 4)
        await writer.drain()

        async def send_rest() -> None:
            for _ in range(SIZE // 65536 - 4):
                if writer.is_closing():
                    return
                writer.write(b"f" * 65536)
                try:
                    await writer.drain()
                except ConnectionError:
                    return
        sender = asyncio.create_task(send_rest())
        answer = await closed_by_peer(reader, 10)
        sender.cancel()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b"too large")

    run(body)
