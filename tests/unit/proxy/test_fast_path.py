"""The proxy's fast hit path answers exactly like the full path (parser + router + decide), byte for byte,
and only plain GETs of fresh Vary-less entries take it (issue 11: it used to serve 200 to bad requests)."""

from __future__ import annotations

import asyncio
import importlib.util
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.http1 import Limits, http_date
from services.proxy import internal
from services.proxy.app import ProxyApp
from services.proxy.cache.cookies import DEFAULT_RULES, CookieRequests, CookieRules
from services.proxy.fast import FastHeads, Plain, plain_get
from tests.unit.fake_transport import AT_HEADS, splits

from .fakes import T0, Clock, FakePool, converse, make_app, reply, store, without_date

G = b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.mark.parametrize(("head", "expected"), [
    (G, ("/a", False)),
    (b"GET /a?q=1 HTTP/1.1\r\nhost: t\r\nUser-Agent: x y\r\nAccept: */*\r\n\r\n", ("/a?q=1", False)),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n", ("/a", False)),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: Close\r\n\r\n", ("/a", True)),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close, upgrade\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n", None),        # invalid field name: 400
    (b"GET /a HTTP/1.1\r\nHost: t\r\nX: a\r\n folded\r\n\r\n", None),       # obs-fold: 400
    (b"GET /a HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", None),               # two Host: 400
    (b"GET /a HTTP/1.1\r\n\r\n", None),                                     # no Host: 400
    (b"GET /a HTTP/1.1\r\nHost : t\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\x01\r\n\r\n", None),
    (b"GET /a HTTP/1.0\r\nHost: t\r\n\r\n", None),
    (b"HEAD /a HTTP/1.1\r\nHost: t\r\n\r\n", None),
    (b"GET http://t/a HTTP/1.1\r\nHost: t\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nCache-Control: max-age=0\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nPragma: no-cache\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nAuthorization: x\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", None),
    (b"GET /a HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 100 + b"\r\n", None),  # > 100 fields: 431
])
def test_plain_get_table(head: bytes, expected: Plain | None) -> None:
    assert plain_get(head, Limits()) == expected


class NoFastPath(FastHeads):
    def classify(self, head: bytes) -> Plain | None:
        return None


CORPUS = [
    G,
    G * 3,
    b"GET /a?x HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /large HTTP/1.1\r\nHost: t\r\n\r\n" + G,
    b"HEAD /a HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + G,
    b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n" + G,
    b"GET /stale HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /nocache HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /vary HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n",
    b"GET /a HTTP/1.1\r\n\r\n",
    G + b"GET /a HTTP/1.1\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\x7f\r\n\r\n",
    b"GET /a HTTP/2.0\r\nHost: t\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 101 + b"\r\n",
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nCache-Control: no-cache\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nCache-Control: max-age=0\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v1\"\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nRange: bytes=1-2\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + G,
    b"GET /a HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + G,
    b"GET /a HTTP/1.0\r\nHost: t\r\n\r\n",
    b"GET /a HTTP/1.1\r\nHost: t\r\nUpgrade: h2c\r\n\r\n",
    b"\r\n\r\n" + G,
    G + b"\r\n" + G,
    b"GET /a HTTP/1.1\r\nHo",
    b"GET /a HTTP/1.1\r\nHost: t\r\nX: \xa0\r\n\r\n" + G,
    b"GET /a HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\r\n",
    b"GET /_proxy/health HTTP/1.1\r\nHost: t\r\n\r\n" + G,
    b"GET /a HTTP/1.1\r\nHost: t\r\nCookie: s=1\r\n\r\n",  # a hit, or a bypass (--cookie-requests)
    b"GET /a HTTP/1.1\r\nHost: t\r\ncookie: s=1\r\nConnection: close\r\n\r\n",
    b"PUT /u HTTP/1.1\r\nHost: t\r\nContent-Length: 28\r\n\r\n" + G,  # a body that looks like a GET
    G + b"GET /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab",  # a body cut short by the end
    b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + G,
]


def _hostile() -> list[bytes]:
    """The parser's corpus of hostile requests (tests/unit/common), aimed at a stored target."""
    path = Path(__file__).resolve().parents[1] / "common" / "test_http1_requests.py"
    spec = importlib.util.spec_from_file_location("http1_request_corpus", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [raw.replace(b" / HTTP/", b" /a HTTP/", 1) + G for _, raw, _ in module.HOSTILE]


CORPUS += _hostile()
assert len(CORPUS) > 80  # the hostile corpus was found


def fill(app: ProxyApp) -> None:
    store(app, "/a", [("Cache-Control", "max-age=60"), ("ETag", '"v1"')], b"alpha")
    store(app, "/a?x", [("Cache-Control", "max-age=60")], b"x" * 70000)
    store(app, "/large", [("Cache-Control", "max-age=60")], bytes(range(256)) * 1200)  # > one window
    store(app, "/stale", [("Cache-Control", "max-age=1")], b"old", at=1_699_999_000.0)
    store(app, "/nocache", [("Cache-Control", "max-age=60, no-cache")], b"nc")
    store(app, "/vary", [("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding")], b"v")


def pieces(data: bytes, step: int) -> Iterator[bytes]:
    """`data` in `step`-byte pieces (0: whole; `AT_HEADS`: a read per head and per body). Byte at a time
    only up to 1 KiB: the long heads (the parser's limit cases, which tests/unit/common/test_http1_requests.py
    feeds byte by byte to the parser) come in 9-byte pieces, since a head split in any pieces skips the
    fast path alike."""
    return splits(data, 9 if step == 1 and len(data) > 1024 else step)


def answers(fast: bool, step: int, cookies: CookieRules = DEFAULT_RULES, eof: bool = False
            ) -> tuple[list[tuple[bytes, bool]], dict[str, object]]:
    async def main() -> tuple[list[tuple[bytes, bool]], dict[str, object]]:
        app = make_app(FakePool(down=True), Clock(1_700_000_010.0), cookies=cookies)
        if not fast:
            app.fast_heads = NoFastPath(app.config.limits)
        fill(app)
        out = []
        for data in CORPUS:
            raw, closed = await converse(app, pieces(data, step), eof)
            out.append((without_date(raw), closed))
        stats = internal.stats(app)
        stats["metrics"] = app.metrics.exposition(stats)  # the per-(status, cache) tallies too
        return out, stats

    return asyncio.run(main())


@pytest.mark.parametrize("eof", [False, True], ids=["open", "eof"])
@pytest.mark.parametrize(("step", "cookies"), [
    (0, DEFAULT_RULES), (1, DEFAULT_RULES), (9, DEFAULT_RULES), (64, DEFAULT_RULES),
    (AT_HEADS, DEFAULT_RULES),
    (0, CookieRules(requests=CookieRequests.BYPASS)), (1, CookieRules(requests=CookieRequests.BYPASS))])
def test_fast_and_full_paths_answer_alike(step: int, cookies: CookieRules, eof: bool) -> None:
    """Also with the client's end of stream after the corpus entry (the connection core's EOF rule), and
    with each head in a read of its own (the core offers a read to the fast path only while its parser
    holds nothing: a body that looks like a GET is a body)."""
    fast_out, fast_stats = answers(True, step, cookies, eof)
    full_out, full_stats = answers(False, step, cookies, eof)
    for data, ours, theirs in zip(CORPUS, fast_out, full_out, strict=True):
        assert ours == theirs, data[:80]
    assert fast_stats == full_stats
    assert fast_out[0][0].startswith(b"HTTP/1.1 200 OK\r\n") and fast_out[0][0].endswith(b"alpha")


# Instants at which the same requests are sent again: the fast path keeps a rendered head per Age
# second (services/proxy/hits.py), so it must switch with the full path as the Age field changes and as
# entries turn stale: /h at 1.5 (heuristic lifetime, inside an Age second), /a at 60 (max-age=60).
SCHEDULE = [T0 + 0.2, math.nextafter(T0 + 1, 0), T0 + 1, T0 + 1.2, math.nextafter(T0 + 1.5, 0), T0 + 1.5,
            T0 + 10, T0 + 10.5, math.nextafter(T0 + 11, 0), T0 + 11, T0 + 59.5, math.nextafter(T0 + 60, 0),
            T0 + 60, T0 + 61]
TIMED = [G, b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", b"GET /h HTTP/1.1\r\nHost: t\r\n\r\n",
         b"GET /a?x HTTP/1.1\r\nHost: t\r\n\r\n", b"GET /stale HTTP/1.1\r\nHost: t\r\n\r\n"]


def timed_answers(fast: bool) -> list[tuple[bytes, bool]]:
    async def main() -> list[tuple[bytes, bool]]:
        clock = Clock(T0)
        app = make_app(FakePool(down=True), clock)
        if not fast:
            app.fast_heads = NoFastPath(app.config.limits)
        fill(app)
        store(app, "/h", [("Last-Modified", http_date(T0 - 15))], b"heuristic")  # fresh for 1.5 s
        out = []
        for instant in SCHEDULE:
            clock.now = instant
            for data in TIMED:
                raw, closed = await converse(app, [data])
                out.append((without_date(raw), closed))
        return out

    return asyncio.run(main())


def test_fast_and_full_paths_answer_alike_as_time_passes() -> None:
    fast_out, full_out = timed_answers(True), timed_answers(False)
    for index, (ours, theirs) in enumerate(zip(fast_out, full_out, strict=True)):
        assert ours == theirs, (SCHEDULE[index // len(TIMED)] - T0, TIMED[index % len(TIMED)])
    plain_gets = [raw for raw, _ in fast_out[::len(TIMED)]]  # G (/a, max-age=60) at each instant
    assert [raw.split(b"\r\nAge: ", 1)[1].split(b"\r\n", 1)[0] for raw in plain_gets[:12]] == \
        [b"0", b"0", b"1", b"1", b"1", b"1", b"10", b"10", b"10", b"11", b"59", b"59"]


def test_fast_path_runs_and_refuses_what_the_parser_refuses() -> None:
    """The regression of issue 11: with the access log off, a bad request got a cached 200."""
    async def main() -> None:
        app = make_app()
        fill(app)
        ok, _ = await converse(app, [G])
        assert ok.startswith(b"HTTP/1.1 200 ") and b"X-Cache: HIT" in ok
        assert app.fast_heads.classify(G) == ("/a", False)  # the fast path did answer it
        for bad in (b"GET /a HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
                    b"GET /a HTTP/1.1\r\nHost: t\r\nX: a\r\n b\r\n\r\n",
                    b"GET /a HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n"):
            raw, closed = await converse(app, [bad])
            assert raw.startswith(b"HTTP/1.1 400 ") and closed, bad

    asyncio.run(main())


def test_fast_path_asks_decide_about_freshness() -> None:
    """An entry that became stale, or says no-cache, is not served by the fast path (decide says so)."""
    async def main() -> None:
        clock = Clock()
        pool = FakePool([reply(200, [("Cache-Control", "max-age=60")], b"new")])
        app = make_app(pool, clock)
        store(app, "/a", [("Cache-Control", "max-age=60")], b"old")
        first, _ = await converse(app, [G])
        clock.now += 61
        second, _ = await converse(app, [G])
        assert first.endswith(b"old") and second.endswith(b"new") and len(pool.sent) == 1

    asyncio.run(main())
