"""The proxy against a scripted origin on 127.0.0.1: caching, collapsing, failures, framing, memory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

from services.proxy.server import ProxyServer

from .harness import Origin, Reply, get, proxy_port, request, start_proxy

Scenario = Callable[[Origin, ProxyServer, int], Awaitable[None]]


def run(scenario: Scenario, **config: object) -> None:
    async def main() -> None:
        origin = Origin()
        await origin.start()
        proxy = await start_proxy(origin.port, **config)
        try:
            async with asyncio.timeout(20):
                await scenario(origin, proxy, proxy_port(proxy))
        finally:
            await proxy.close()
            await origin.stop()

    asyncio.run(main())


def test_miss_then_hit_with_via_age_and_stats() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/a"] = Reply(body=b"alpha")
        first = await get(port, "/a")
        second = await get(port, "/a")
        assert (first.status, first.body, first.headers.get("x-cache")) == (200, b"alpha", "MISS")
        assert (second.body, second.headers.get("x-cache")) == (b"alpha", "HIT")
        assert second.headers.get("age") is not None and "qoslab" in (second.headers.get("via") or "")
        assert origin.counts["/a"] == 1
        health = await get(port, "/_proxy/health")
        stats = json.loads((await get(port, "/_proxy/stats")).body)
        assert health.status == 200 and stats["hits"] == 1 and stats["misses"] == 1
        assert stats["entries"] == 1 and stats["hit_ratio"] == 0.5 and origin.counts["/_proxy/stats"] == 0

    run(scenario)


def test_concurrent_misses_collapse_into_one_upstream_request() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/slow"] = Reply(body=b"x" * 1000, delay_s=0.3)
        answers = await asyncio.gather(*(get(port, "/slow") for _ in range(20)))
        assert all(a.status == 200 and a.body == b"x" * 1000 for a in answers)
        assert origin.counts["/slow"] == 1
        assert proxy.app.metrics.counts.collapsed == 19

    run(scenario)


def test_revalidation_with_304_updates_headers() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/v"] = Reply(headers=[("Cache-Control", "max-age=0"), ("ETag", '"e1"'),
                                             ("X-Version", "1")], body=b"same")
        assert (await get(port, "/v")).headers.get("x-cache") == "MISS"
        origin.routes["/v"] = Reply(304, [("ETag", '"e1"'), ("X-Version", "2"),
                                          ("Cache-Control", "max-age=60")], b"")
        second = await get(port, "/v")
        assert (second.status, second.body, second.headers.get("x-cache")) == (200, b"same", "REVALIDATED")
        assert second.headers.get("x-version") == "2"
        assert origin.requests[-1].headers.get("if-none-match") == '"e1"'
        assert (await get(port, "/v")).headers.get("x-cache") == "HIT"
        conditional = await get(port, "/v", 'If-None-Match: "e1"')
        assert conditional.status == 304

    run(scenario)


def test_upstream_death_gives_502_and_recovery_when_back() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/p"] = Reply(headers=[("Cache-Control", "no-store")], body=b"up")
        assert (await get(port, "/p")).status == 200
        saved_port = origin.port
        await origin.stop()
        assert (await get(port, "/p")).status == 502
        await origin.start(saved_port)
        answer = await get(port, "/p")
        assert (answer.status, answer.body) == (200, b"up")

    run(scenario)


def test_stale_served_when_upstream_is_down() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/s"] = Reply(headers=[("Cache-Control", "max-age=0, stale-if-error=60"),
                                             ("ETag", '"s"')], body=b"stale-ok")
        await get(port, "/s")
        await origin.stop()
        answer = await get(port, "/s")
        assert (answer.status, answer.body, answer.headers.get("x-cache")) == (200, b"stale-ok", "STALE")

    run(scenario)


def test_upstream_timeout_is_504() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/t"] = Reply(delay_s=1.0)
        assert (await get(port, "/t")).status == 504

    run(scenario, upstream_timeout_s=0.2)


def test_large_object_streamed_not_stored_and_memory_bounded() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        big = bytes(range(256)) * 800  # 200 KiB
        origin.routes["/big"] = Reply(body=big)
        for _ in range(2):
            answer = await get(port, "/big")
            assert answer.body == big and answer.headers.get("x-cache") == "MISS"
        for i in range(100):
            origin.routes[f"/o{i}"] = Reply(body=b"y" * 4000)
            await get(port, f"/o{i}")
        assert proxy.app.store.used_bytes <= 64 * 1024 and proxy.app.store.evictions > 0

    run(scenario, cache_size=64 * 1024, max_object_size=16 * 1024)


def test_chunked_upstream_is_rechunked_and_stored() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/c"] = Reply(body=b"chunked body", chunked=True)
        first = await get(port, "/c")
        assert first.body == b"chunked body" and first.headers.get("transfer-encoding") == "chunked"
        second = await get(port, "/c")
        assert second.body == b"chunked body" and second.headers.get("x-cache") == "HIT"

    run(scenario)


def test_post_forwarded_with_body_and_invalidates() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/r"] = Reply(body=b"v1")
        await get(port, "/r")
        raw = b"POST /r HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n0\r\n\r\n"
        assert (await request(port, raw)).status == 200
        assert origin.bodies[-1] == b"data"
        assert (await get(port, "/r")).headers.get("x-cache") == "MISS"

    run(scenario)


def test_bad_framing_and_purge() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        raw = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        assert (await request(port, raw)).status == 400
        bad = b"GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n"
        assert (await request(port, bad)).status == 400
        origin.routes["/g"] = Reply()
        await get(port, "/g")
        assert (await get(port, "/g", method="PURGE")).status == 200
        assert (await get(port, "/g")).headers.get("x-cache") == "MISS"

    run(scenario)


def test_bad_upstream_framing_is_502_and_hop_by_hop_removed() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/bad"] = Reply(headers=[("Content-Length", "zz")])
        assert (await get(port, "/bad")).status == 502
        origin.routes["/h"] = Reply(headers=[("Connection", "x-secret"), ("X-Secret", "1"),
                                             ("Keep-Alive", "timeout=5")])
        answer = await get(port, "/h", "Connection: x-drop", "X-Drop: 1")
        assert "x-secret" not in answer.headers and "keep-alive" not in answer.headers
        assert "x-drop" not in origin.requests[-1].headers

    run(scenario)


def test_forward_mode_allow_list() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/f"] = Reply(body=b"fwd")
        ok = await get(port, f"http://127.0.0.1:{origin.port}/f")
        assert (ok.status, ok.body) == (200, b"fwd")
        assert origin.requests[-1].headers.get("host") == f"127.0.0.1:{origin.port}"
        assert (await get(port, "http://10.255.0.1:81/")).status == 403
        assert (await get(port, "/relative")).status == 400

    async def wrapper(origin: Origin, proxy: ProxyServer, port: int) -> None:
        object.__setattr__(proxy.app.config, "allow", frozenset({("127.0.0.1", origin.port)}))
        await scenario(origin, proxy, port)

    run(wrapper, mode="forward")


def test_ranges_served_from_a_stored_complete_response() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/r"] = Reply(headers=[("Cache-Control", "max-age=60"), ("ETag", '"r1"'), ("A", "1")],
                                    body=b"01234567890")
        assert (await get(port, "/r")).status == 200
        part = await get(port, "/r", "Range: bytes=0-1")
        assert (part.status, part.body, part.headers.get("content-range")) == (206, b"01", "bytes 0-1/11")
        assert part.headers.get("x-cache") == "HIT" and part.headers.get("a") == "1"
        assert part.headers.get("content-length") == "2" and part.headers.get("age") is not None
        suffix = await get(port, "/r", "Range: bytes=-1")
        assert (suffix.status, suffix.body) == (206, b"0")
        beyond = await get(port, "/r", "Range: bytes=50-")
        assert (beyond.status, beyond.headers.get("content-range")) == (416, "bytes */11")
        same = await get(port, "/r", "Range: bytes=1-", 'If-Range: "r1"')
        assert (same.status, same.body) == (206, b"1234567890")
        changed = await get(port, "/r", "Range: bytes=1-", 'If-Range: "r0"')
        assert (changed.status, changed.body) == (200, b"01234567890")
        multi = await get(port, "/r", "Range: bytes=0-1,4-5")
        assert (multi.status, multi.body) == (200, b"01234567890")
        head = await get(port, "/r", "Range: bytes=0-1", method="HEAD")
        assert (head.status, head.headers.get("content-length")) == (200, "11")
        assert origin.counts["/r"] == 1

    run(scenario)


def test_head_response_updates_the_stored_get() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/h"] = Reply(headers=[("Cache-Control", "max-age=0"), ("A", "1")], body=b"body")
        assert (await get(port, "/h")).headers.get("x-cache") == "MISS"
        origin.routes["/h"] = Reply(headers=[("Cache-Control", "max-age=600"), ("A", "2")], body=b"body")
        head = await get(port, "/h", method="HEAD")
        assert head.status == 200 and origin.requests[-1].method == "HEAD"
        hit = await get(port, "/h")
        assert (hit.headers.get("x-cache"), hit.headers.get("a"), hit.body) == ("HIT", "2", b"body")
        origin.routes["/h"] = Reply(headers=[("Cache-Control", "max-age=0")], body=b"longer body")
        proxy.app.store.lookup("/h")[0].lifetime_s = 0  # stale again: the next HEAD goes upstream
        await get(port, "/h", method="HEAD")  # Content-Length differs: the stored GET is invalidated
        assert proxy.app.store.lookup("/h") == []
        assert (await get(port, "/h")).body == b"longer body"

    run(scenario)


def test_connect_tunnel_carries_bytes_both_ways_and_closes_with_the_origin() -> None:
    async def scenario(origin: Origin, proxy: ProxyServer, port: int) -> None:
        origin.routes["/t"] = Reply(body=b"tunnelled", headers=[])
        object.__setattr__(proxy.app.config, "allow", frozenset({("127.0.0.1", origin.port)}))
        object.__setattr__(proxy.app.config, "connect_ports", frozenset({origin.port}))
        refused = await request(port, b"CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: x\r\n\r\n", method="CONNECT")
        assert refused.status == 403
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            established = await reader.readuntil(b"\r\n\r\n")
            assert established.startswith(b"HTTP/1.1 200 Connection Established\r\n")
            writer.write(b"GET /t HTTP/1.1\r\nHost: o\r\n\r\n")
            answer = await reader.readuntil(b"tunnelled")
            assert answer.startswith(b"HTTP/1.1 200") and b"x-cache" not in answer.lower()
            await origin.stop()  # the origin goes away: the tunnel closes the client side too
            assert await reader.read(-1) == b""
        finally:
            writer.close()
            await writer.wait_closed()

    run(scenario, mode="forward")
