"""The request cycle (router → cycle/forwarding → exchange) with a fake client and a fake upstream: no
sockets, no sleeps, the clock injected. Each test is something a client of the proxy would notice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from services.common.http1 import Data, EndOfMessage, Headers, Response, http_date
from services.proxy.app import ProxyApp
from services.proxy.upstream import UpstreamError

from .fakes import T0, Clock, FakePool, converse, make_app, reply, store

GET = b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def field(raw: bytes, name: bytes) -> bytes | None:
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.lower() == name.lower():
            return value.strip()
    return None


async def get(app: ProxyApp, raw: bytes = GET) -> bytes:
    return (await converse(app, [raw]))[0]


def test_miss_is_stored_then_hit_with_age_and_one_upstream_request() -> None:
    async def body() -> None:
        clock = Clock()
        fields = [("Cache-Control", "max-age=60"), ("Connection", "x"), ("X", "1")]
        pool = FakePool([reply(200, fields, b"hi")])
        app = make_app(pool, clock)
        first = await get(app)
        clock.now += 5
        second = await get(app)
        assert (field(first, b"x-cache"), field(second, b"x-cache")) == (b"MISS", b"HIT")
        assert second.endswith(b"hi") and field(second, b"age") == b"5" and field(first, b"x") is None
        assert len(pool.sent) == 1
        sent = pool.requests[0]
        assert sent.startswith(b"GET /a HTTP/1.1\r\n") and b"Via: 1.1 qoslab" in sent
    run(body)


def test_revalidation_304_refreshes_the_entry() -> None:
    async def body() -> None:
        pool = FakePool([reply(304, [("Cache-Control", "max-age=100"), ("X-New", "1")])])
        app = make_app(pool)
        store(app, "/a", [("Cache-Control", "max-age=1"), ("ETag", '"v1"')], b"old", at=T0 - 50)
        raw = await get(app)
        assert field(raw, b"x-cache") == b"REVALIDATED" and raw.endswith(b"old")
        assert field(raw, b"x-new") == b"1" and b'If-None-Match: "v1"' in pool.requests[0]
        assert field(await get(app), b"x-cache") == b"HIT"
    run(body)


def test_stale_served_when_the_origin_is_unreachable_even_without_validators() -> None:
    """Issue 11 cause 5: a stale entry in hand, the origin down → the stale entry, not a 502."""
    async def body() -> None:
        app = make_app(FakePool(down=True))
        store(app, "/a", [("Cache-Control", "max-age=1")], b"old", at=T0 - 50)
        raw = await get(app)
        assert status_of(raw) == 200 and field(raw, b"x-cache") == b"STALE" and raw.endswith(b"old")
        assert app.metrics.counts.stale == 1
    run(body)


def test_stale_served_when_the_origin_drops_the_connection() -> None:
    async def body() -> None:
        app = make_app(FakePool([[UpstreamError(502, "upstream closed the connection")]]))
        store(app, "/a", [("Cache-Control", "max-age=1"), ("ETag", '"e"')], b"old", at=T0 - 50)
        raw = await get(app)
        assert field(raw, b"x-cache") == b"STALE" and raw.endswith(b"old")
    run(body)


def test_no_stale_on_failure_against_must_revalidate_or_outside_the_window() -> None:
    async def body() -> None:
        app = make_app(FakePool(down=True))
        store(app, "/a", [("Cache-Control", "max-age=1, must-revalidate")], b"old", at=T0 - 50)
        assert status_of(await get(app)) == 502
        short = make_app(FakePool(down=True), stale_on_error_s=10.0)
        store(short, "/a", [("Cache-Control", "max-age=1")], b"old", at=T0 - 50)
        assert status_of(await get(short)) == 502  # 49 s stale > 10 s
        timeout = make_app(FakePool([[UpstreamError(504, "upstream timed out")]]), stale_on_error_s=0.0)
        store(timeout, "/a", [("Cache-Control", "max-age=1")], b"old", at=T0 - 50)
        assert status_of(await get(timeout)) == 504
    run(body)


def test_stale_served_on_503_but_a_501_is_passed_on() -> None:
    async def body() -> None:
        app = make_app(FakePool([reply(503, [], b"busy"), reply(501, [], b"nope")]))
        store(app, "/a", [("Cache-Control", "max-age=1"), ("ETag", '"e"')], b"old", at=T0 - 50)
        assert (await get(app)).endswith(b"old")
        raw = await get(app)
        assert status_of(raw) == 501 and raw.endswith(b"nope")
    run(body)


def test_1xx_forwarded_to_http11_clients_never_stored_never_to_http10() -> None:
    """RFC 9110 §15.2: a proxy forwards 1xx it did not ask for (103 Early Hints)."""
    async def body() -> None:
        hints = Response(103, "Early Hints", "HTTP/1.1", Headers([("Link", "</s.css>; rel=preload")]))
        final = reply(200, [("Cache-Control", "max-age=60")], b"page")
        app = make_app(FakePool([[hints, *final], [hints, *reply(200, [], b"p10")]]))
        first = await get(app)
        early = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
        assert first.startswith(early + b"HTTP/1.1 200 ")
        hit = await get(app)
        assert hit.startswith(b"HTTP/1.1 200 ") and b"103" not in hit.split(b"\r\n")[0]
        old = await get(app, b"GET /b HTTP/1.0\r\n\r\n")
        assert old.startswith(b"HTTP/1.1 200 ") and old.endswith(b"p10")
    run(body)


def test_unsolicited_100_and_101_are_not_forwarded() -> None:
    async def body() -> None:
        interim = [Response(100, "Continue", "HTTP/1.1", Headers()), Response(101, "", "HTTP/1.1", Headers())]
        app = make_app(FakePool([[*interim, *reply(200, [], b"ok")]]))
        raw = await get(app)
        assert raw.startswith(b"HTTP/1.1 200 ")
    run(body)


def test_cdn_cache_control_in_reverse_mode_is_obeyed_and_forwarded() -> None:
    async def body() -> None:
        fields = [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=600")]
        pool = FakePool([reply(200, fields, b"cdn")])
        app = make_app(pool)
        first = await get(app)
        assert field(first, b"cdn-cache-control") == b"max-age=600"  # RFC 9213: not removed
        assert field(await get(app), b"x-cache") == b"HIT" and len(pool.sent) == 1
    run(body)


def test_cdn_cache_control_off_in_forward_mode_and_by_setting() -> None:
    async def body() -> None:
        fields = [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=600")]
        target = b"GET http://origin/a HTTP/1.1\r\nHost: origin\r\n\r\n"
        forward = make_app(FakePool([reply(200, fields, b"1"), reply(200, fields, b"2")]), mode="forward",
                           allow=frozenset({("origin", 80)}))
        assert (await get(forward, target)).endswith(b"1") and (await get(forward, target)).endswith(b"2")
        replies = [reply(200, fields, b"1"), reply(200, fields, b"2")]
        off = make_app(FakePool(replies), targeted_cache_control=())
        assert (await get(off)).endswith(b"1") and (await get(off)).endswith(b"2")
    run(body)


def test_age_list_uses_its_first_member() -> None:
    """RFC 9111 §5.1: `Age: 0, 7200` is 0 (fresh); `Age: 7200, 0` is 7200 (stale with max-age=3600)."""
    async def body() -> None:
        cc = ("Cache-Control", "max-age=3600")
        pool = FakePool([reply(200, [cc, ("Age", "0, 7200")], b"young"),
                         reply(200, [cc, ("Age", "7200, 0")], b"old"), reply(200, [cc], b"again")])
        app = make_app(pool)
        await get(app)
        assert field(await get(app), b"x-cache") == b"HIT"
        await get(app, b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert (await get(app, b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")).endswith(b"again")
    run(body)


def test_concurrent_misses_collapse_into_one_upstream_request() -> None:
    async def body() -> None:
        pool = FakePool([reply(200, [("Cache-Control", "max-age=60")], b"one")])
        app = make_app(pool)
        answers = await asyncio.gather(*(get(app) for _ in range(5)))
        assert all(raw.endswith(b"one") for raw in answers) and len(pool.sent) == 1
        assert app.metrics.counts.collapsed == 4
    run(body)


def test_post_is_forwarded_with_its_body_and_invalidates() -> None:
    async def body() -> None:
        pool = FakePool([reply(201, [], b"made")])
        app = make_app(pool)
        store(app, "/a", [("Cache-Control", "max-age=60")], b"cached")
        raw = await get(app, b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        assert status_of(raw) == 201 and pool.sent[0].endswith(b"\r\n\r\nabc")
        assert app.store.lookup("/a") == [] and app.metrics.counts.invalidations == 1
    run(body)


def test_only_if_cached_miss_is_504_without_upstream() -> None:
    async def body() -> None:
        pool = FakePool()
        app = make_app(pool)
        raw = await get(app, b"GET /a HTTP/1.1\r\nHost: t\r\nCache-Control: only-if-cached\r\n\r\n")
        assert status_of(raw) == 504 and pool.sent == []
    run(body)


def test_upstream_errors_map_to_502_and_504() -> None:
    async def body() -> None:
        app = make_app(FakePool([[UpstreamError(504, "upstream timed out")]]))
        assert status_of(await get(app)) == 504
        assert status_of(await get(make_app(FakePool(down=True)))) == 502
    run(body)


def test_body_without_length_is_rechunked_and_stored() -> None:
    async def body() -> None:
        events: list[Any] = [Response(200, "OK", "HTTP/1.1", Headers([("Cache-Control", "max-age=60"),
                                                                     ("Date", http_date(T0))])),
                             Data(b"abc"), Data(b"def"), EndOfMessage()]
        app = make_app(FakePool([events]))
        first = await get(app)
        assert field(first, b"transfer-encoding") == b"chunked" and first.endswith(b"3\r\ndef\r\n0\r\n\r\n")
        second = await get(app)
        assert field(second, b"content-length") == b"6" and second.endswith(b"abcdef")
    run(body)


def test_a_pooled_connection_closed_before_any_answer_is_retried_once() -> None:
    async def body() -> None:
        pool = FakePool([[UpstreamError(502, "upstream closed the connection")], reply(200, [], b"second")],
                        reused=1)
        raw = await get(make_app(pool))
        assert raw.endswith(b"second") and len(pool.sent) == 2
    run(body)

