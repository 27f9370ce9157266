"""Benchmark origin: /small (100 B) and /big (1 MiB), cacheable for an hour. `python origin.py PORT`."""

from __future__ import annotations

import asyncio
import sys

BODIES = {b"/small": b"s" * 100, b"/big": b"b" * (1 << 20)}


class HeadsOrigin(asyncio.Protocol):
    """Reads request heads (bodies are not expected) and answers each with `answer(path)`'s bytes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            answer = self.answer(head.split(b" ", 2)[1])
            if not self.transport.is_closing():
                self.transport.write(answer)

    def answer(self, path: bytes) -> bytes:
        raise NotImplementedError


class Origin(HeadsOrigin):
    def answer(self, path: bytes) -> bytes:
        body = BODIES.get(path, b"missing")
        return (b"HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nContent-Type: text/plain\r\n"
                b"Content-Length: %d\r\n\r\n%b" % (len(body), body))


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Origin, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
