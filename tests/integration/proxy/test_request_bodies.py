"""Request bodies through the proxy, checked at the origin's socket (issue 16 #11).

GET/HEAD bodies are read from the client and dropped together with their framing (the cache answers by
URL, so a body must not reach the origin either); other methods' bodies are forwarded exactly, with a
Content-Length that matches. Oracle, for every framing case: the bytes the recording origin received
parse into exactly the requests the proxy meant to send — nothing left over, nothing missing — and the
pooled connection still serves the next client correctly.
"""

from __future__ import annotations

import asyncio

import pytest

from services.common.http1 import Data, EndOfMessage, Response, ResponseParser

from .harness import proxy_port, start_proxy
from .recording import RecordingOrigin

CHUNKED_HELLO = b"Transfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n"
CASES: list[tuple[str, bytes, bytes]] = [  # name, request after the request line's method + target, body
    ("get-cl", b"Content-Length: 5\r\n\r\nhello", b""),
    ("get-chunked", CHUNKED_HELLO, b""),
    ("get-expect", b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", b""),
    ("get-close", b"Connection: close\r\nContent-Length: 5\r\n\r\nhello", b""),
    ("get-cl0", b"Content-Length: 0\r\n\r\n", b""),
    ("head-cl", b"Content-Length: 5\r\n\r\nhello", b""),
    ("head-chunked", CHUNKED_HELLO, b""),
    ("post-cl", b"Content-Length: 5\r\n\r\nhello", b"hello"),
    ("post-chunked", CHUNKED_HELLO, b"hello"),
    ("post-empty", b"\r\n", b""),
    ("put-expect", b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
    ("delete-cl", b"Content-Length: 5\r\n\r\nhello", b"hello"),
    ("options-chunked", CHUNKED_HELLO, b"hello"),
    ("patch-close", b"Connection: close\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
]


async def responses(port: int, raw: bytes, methods: list[str],
                    timeout_s: float = 5.0) -> list[tuple[int, bytes]]:
    """Send `raw` on one connection and read one response per method (pipelining)."""
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        parser = ResponseParser()
        for method in methods:
            parser.expect(method)
        writer.write(raw)
        out: list[tuple[int, bytes]] = []
        status, body, eof = 0, b"", False
        try:
            while len(out) < len(methods):
                event = parser.next_event()
                if event is None:
                    if eof:
                        break  # closed by the proxy: the answers so far
                    data = await reader.read(65536)
                    if not data:
                        parser.feed_eof()
                        eof = True
                    parser.feed(data)
                elif isinstance(event, Response) and event.status >= 200:
                    status, body = event.status, b""
                elif isinstance(event, Data):
                    body += event.data
                elif isinstance(event, EndOfMessage):
                    out.append((status, body))
        finally:
            writer.close()
        return out


def run(body: object) -> None:
    async def main() -> None:
        origin = RecordingOrigin()
        await origin.start()
        proxy = await start_proxy(origin.port)
        try:
            await body(origin, proxy_port(proxy))  # type: ignore[operator]
        finally:
            await proxy.close()
            await origin.stop()

    asyncio.run(main())


def assert_origin_in_sync(origin: RecordingOrigin) -> None:
    for conn in origin.connections:
        assert conn.error is None, (conn.error, bytes(conn.raw))
        assert all(r.complete for r in conn.received), bytes(conn.raw)  # no body still awaited


@pytest.mark.parametrize(("name", "rest", "forwarded"), CASES, ids=[c[0] for c in CASES])
def test_each_framing_reaches_the_origin_exactly_and_the_pool_stays_in_sync(name: str, rest: bytes,
                                                                            forwarded: bytes) -> None:
    method = name.split("-")[0].upper()

    async def body(origin: RecordingOrigin, port: int) -> None:
        raw = f"{method} /{name} HTTP/1.1\r\nHost: t\r\n".encode() + rest
        (status, _), = await responses(port, raw, [method])
        assert status == 200
        for i in range(3):  # the next clients reuse the pooled connection
            after = await responses(port, f"GET /after{i} HTTP/1.1\r\nHost: t\r\n\r\n".encode(), ["GET"])
            assert after == [(200, f"/after{i}".encode())]
        assert_origin_in_sync(origin)
        first = origin.requests()[0]
        assert (first.request.method, first.request.target, first.body) == (method, f"/{name}", forwarded)
        headers = first.request.headers
        assert "transfer-encoding" not in headers and "expect" not in headers
        if method in ("GET", "HEAD"):
            assert "content-length" not in headers
        else:
            assert headers.get("content-length") == str(len(forwarded))
        assert [r.request.target for r in origin.requests()[1:]] == ["/after0", "/after1", "/after2"]

    run(body)


def test_pipelined_behind_a_get_with_a_body() -> None:
    async def body(origin: RecordingOrigin, port: int) -> None:
        raw = (b"GET /first HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nGET /x HTTP"
               b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n")
        assert await responses(port, raw, ["GET", "GET"]) == [(200, b"/first"), (200, b"/second")]
        assert_origin_in_sync(origin)
        assert [(r.request.target, r.body) for r in origin.requests()] == [("/first", b""), ("/second", b"")]

    run(body)


def test_a_get_body_cannot_poison_another_url() -> None:
    """The reproduction of #11: an attacker's GET announces L body bytes; before the fix the proxy forwarded
    Content-Length: L without the bytes, the origin took the first L bytes of the next client's request as
    that body and answered the request hidden in its `X:` field, and the proxy stored that answer under
    the victim's URL for everyone."""
    async def body(origin: RecordingOrigin, port: int) -> None:
        origin.bodies = {"/small.html": b"small page", "/fresh.html": b"FRESH PAGE"}
        hidden = b"X: GET /fresh.html HTTP/1.1\r\nHost: t\r\n\r\n"
        # learn where the hidden request starts in what the proxy forwards (same length as the victim's)
        await responses(port, b"GET /probe.html HTTP/1.1\r\n" + hidden, ["GET"])
        forwarded = bytes(origin.connections[0].raw)
        skip = forwarded.index(b"GET /fresh.html")
        attack = b"GET /attack HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % skip + b"a" * skip
        await responses(port, attack, ["GET"])
        victim = await responses(port, b"GET /small.html HTTP/1.1\r\n" + hidden, ["GET"])
        later = await responses(port, b"GET /small.html HTTP/1.1\r\nHost: t\r\n\r\n", ["GET"])
        assert victim == [(200, b"small page")] and later == [(200, b"small page")]
        assert_origin_in_sync(origin)
        assert "/fresh.html" not in [r.request.target for r in origin.requests()]

    run(body)
