"""The fast path must answer exactly like the full parser + planner, and only for the plain requests."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import log
from services.common.clock import FakeClock
from services.common.http1 import EndOfMessage, HTTPError, Limits, Request, RequestParser
from services.server.app import ServerConfig, make_context
from services.server.context import Context
from services.server.fast import FastRoutes, simple_request
from services.server.protocol import HttpProtocol
from tests.unit.fake_transport import AT_HEADS, FakeTransport, splits

PLAIN = b"GET /a.html HTTP/1.1\r\nHost: t\r\n\r\n"


@pytest.mark.parametrize(("head", "expected"), [
    (PLAIN, (b"GET", b"/a.html")),
    (b"HEAD /a.html?q=1 HTTP/1.1\r\nhost: t\r\nUser-Agent: x y\r\nAccept: */*\r\n\r\n",
     (b"HEAD", b"/a.html?q=1")),
    (b"GET /a.html HTTP/1.1\r\nHost:t  \r\nX-Empty:\r\n\r\n", (b"GET", b"/a.html")),
    (b"GET /a.html HTTP/1.0\r\nHost: t\r\n\r\n", None),  # 1.0: keep-alive rules differ
    (b"POST /a.html HTTP/1.1\r\nHost: t\r\n\r\n", None),
    (b"get /a.html HTTP/1.1\r\nHost: t\r\n\r\n", None),
    (b"GET a.html HTTP/1.1\r\nHost: t\r\n\r\n", None),
    (b"GET http://t/a.html HTTP/1.1\r\nHost: t\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\n\r\n", None),  # no Host
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nHOST: u\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n", (b"GET", b"/a.html")),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, close\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX: \r\nconnection: keep-alive\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: Keep-Alive, \r\n\r\n", (b"GET", b"/a.html")),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nif-modified-since: x\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nRange: bytes=0-1\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", None),  # obs-fold
    (b"GET /a.html HTTP/1.1\r\nHost : t\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\x01\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\nX: a\nb\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 100 + b"\r\n", None),  # > 100 fields
    (b"GET /a\x00 HTTP/1.1\r\nHost: t\r\n\r\n", None),
    (b"GET /a.html HTTP/1.1\r\nHost: t\r\n\r\nGET", None),
])
def test_simple_request_table(head: bytes, expected: tuple[bytes, bytes] | None) -> None:
    assert simple_request(head, Limits()) == expected


PIECES = [b"GET ", b"HEAD ", b"/a.html", b"?x", b" HTTP/1.1", b" HTTP/1.0", b"\r\n", b"Host", b"host", b":",
          b" ", b"\t", b"t", b"Content-Length", b"0", b"Transfer-Encoding", b"chunked", b"Connection",
          b"close", b"keep-alive", b"\r\nConnection: keep-alive",
          b"If-None-Match", b"Range", b"X-A", b"\x00", b"\x01", b"\x7f", b"\xff", b",", b"\n"]
heads = st.lists(st.sampled_from(PIECES), max_size=30).map(lambda parts: b"".join(parts) + b"\r\n\r\n")
plain_prefix = st.just(b"GET /a.html HTTP/1.1\r\nHost: t\r\n")


@settings(deadline=None)
@given(st.one_of(heads, st.tuples(plain_prefix, heads).map(lambda pair: pair[0] + pair[1][:-2])))
def test_fast_heads_parse_to_the_same_plain_request(head: bytes) -> None:
    """Whatever simple_request accepts, the full parser accepts as the same body-less plain request."""
    simple = simple_request(head, Limits())
    if simple is None:
        return
    parser = RequestParser()
    parser.feed(head)
    try:
        request = parser.next_event()
        end = parser.next_event()
    except HTTPError as exc:  # pragma: no cover - would be a fast-path bug
        raise AssertionError(f"fast head rejected by the parser: {head!r}") from exc
    assert isinstance(request, Request) and isinstance(end, EndOfMessage)
    assert (request.method.encode(), request.target.encode(), request.version) == (*simple, "HTTP/1.1")
    lowered = [name.lower() for name, _ in request.headers]
    assert lowered.count("host") == 1
    assert not {"content-length", "transfer-encoding", "range"} & set(lowered)
    assert request.headers.get_tokens("connection") in ([], ["keep-alive"])
    assert not any(name.startswith("if-") for name in lowered)
    assert parser.buffered == 0


# -- the Protocol: fast and full paths give the same bytes ------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "a.html").write_bytes(b"<p>a</p>\n" * 50)
    (tmp_path / "b.css").write_bytes(b"b{}\n")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "index.html").write_bytes(b"index\n")
    return tmp_path


def context(root: Path, fast: bool) -> Context:
    ctx = make_context(ServerConfig(root=str(root)), FakeClock())
    if not fast:
        ctx.fast = FastRoutes(ctx.limits, head_limit=0)  # nothing qualifies
    return ctx


G = b"GET /a.html HTTP/1.1\r\nHost: t\r\n\r\n"
CORPUS = [
    G, b"HEAD /a.html HTTP/1.1\r\nHost: t\r\n\r\n", G * 5, b"GET /b.css?v=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /dir/ HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n", b"GET /dir HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n", b"GET /../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /%2e%2e/a.html HTTP/1.1\r\nHost: t\r\n\r\n", b"GET /a.html%00 HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nIf-None-Match: *\r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nRange: bytes=2-5\r\n\r\n" + G,
    G + b"GET /a.html HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % len(G) + G + G,  # a body like a GET
    G + b"GET /a.html HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n" + G,
    G + b"GET /a.html HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + G,
    G + b"GET /a.html HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n" + G, G + b"GET /a.html HTTP/1.1\r\n\r\n" + G,
    G + b"GET /a.html HTTP/1.1\r\nHost: t\r\n x\r\n\r\n" + G,
    G + b"GET /a.html HTTP/1.1\r\nHost: t\x7f\r\n\r\n",
    G + b"GET /a.html HTTP/2.0\r\nHost: t\r\n\r\n", G + b"BREW /a.html HTTP/1.1\r\nHost: t\r\n\r\n",
    G + b"GET /a.html HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 101 + b"\r\n",
    G + b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", G + b"GET /a.html HTTP/1.1\r\nHo",
    b"GET /a.html HTTP/1.0\r\nHost: t\r\n\r\n", b"\r\n\r\n" + G, G + b"\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: Keep-Alive\r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: keep-alive,\r\nConnection: \r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n" + G,
    b"GET /a.html HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n" + G,
    b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", b"GET /_server/health HTTP/1.1\r\nHost: t\r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nUser-Agent: " + b"u" * 5000 + b"\r\n\r\n" + G,
    # pathological heads (issue 16, items 9, 10 and 16): the same answer on both paths, and quickly
    b"GET /a.html HTTP/1.1\r\n" + b"X:        \r\n" * 8 + b"Y\r\n\r\n",
    b"GET /a.html HTTP/1.1\r\nHost: t\r\n" + b"X:        \r\n" * 8 + b"\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\n" + b"Expect: \r\n" * 24 + b"Expect\r\n\r\n",
    b"GET /a.html HTTP/1.1\r\nHost: t\r\n" + b"Expect: \r\n" * 24 + b"\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nX:" + b" \t" * 1500 + b"\x01\r\n\r\n",
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nX: a" + b" " * 3000 + b"\r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nX: \xa0\r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nContent-Length: 0\xa0\r\n\r\n" + G,
    b"GET /a.html HTTP/1.1\r\nHost: t\r\nContent-Length: \xb2\r\n\r\n" + G,
    b"GET /a.html HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + G,
]


def run(ctx: Context, chunks: Iterator[bytes], eof: bool = False) -> tuple[bytes, bool]:
    """Feed `chunks` to one connection (then the client's end of stream when `eof`)."""
    transport = FakeTransport()
    proto = HttpProtocol(ctx)
    proto.connection_made(transport)
    for chunk in chunks:
        if not transport.ended:
            proto.data_received(chunk)
    if eof and not transport.ended and not proto.eof_received():
        transport.close()
    return transport.data, transport.ended


def answers(ctx: Context, step: int, eof: bool = False) -> tuple[list[tuple[bytes, bool]], list[str]]:
    """Every corpus entry on a new connection; the replies and the access log (without ts/dur_ms)."""
    stream = io.StringIO()
    log.configure("server", stream=stream)
    try:
        run(ctx, iter([G, CORPUS[3], CORPUS[4]]))  # the full path teaches the fast one
        replies = [run(ctx, splits(data, step), eof) for data in CORPUS]
    finally:
        log.configure("qoslab", stream=None)
    return replies, [re.sub(r"^ts=\S+ | dur_ms=\S+", "", line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("eof", [False, True], ids=["open", "eof"])
@pytest.mark.parametrize("step", [0, 1, 7, 33, 64, AT_HEADS])
def test_fast_and_full_paths_answer_alike(root: Path, step: int, eof: bool) -> None:
    """Also with the client's end of stream after the corpus entry (the connection core's EOF rule), and
    with each head in a read of its own (the core offers a read to the fast path only while its parser
    holds nothing: a body that looks like a GET is a body)."""
    fast, full = context(root, True), context(root, False)
    fast_replies, fast_log = answers(fast, step, eof)
    full_replies, full_log = answers(full, step, eof)
    for data, ours, theirs in zip(CORPUS, fast_replies, full_replies, strict=True):
        assert ours == theirs, data[:80]
    assert fast_log == full_log and len(fast_log) > len(CORPUS)
    assert fast.stats == full.stats
    assert fast.fast.route(G) is not None and full.fast.route(G) is None  # the fast path did run


def test_http10_chunked_request_closes_after_its_response(root: Path) -> None:
    """RFC 9112 §6.1: HTTP/1.0 with Transfer-Encoding is answered, then the connection closes."""
    ctx = make_context(ServerConfig(root=str(root), access_log=False), FakeClock())
    raw = b"GET /a.html HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    out, closed = run(ctx, iter([raw + G]))
    assert out.startswith(b"HTTP/1.1 200 ") and out.count(b"HTTP/1.1 ") == 1 and b"Connection: close" in out
    assert closed


def test_redos_head_costs_about_a_normal_head() -> None:
    """Issue 16 item 9: this 117-byte head cost seconds in the fast path's regex (×9 per extra line)."""
    head = b"GET / HTTP/1.1\r\n" + b"X:        \r\n" * 8 + b"Y\r\n\r\n"
    normal = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: aaaaaa\r\n" * 7 + b"Y: aaaaaaaa\r\n\r\n"
    assert len(head) == len(normal) and simple_request(normal, Limits()) == (b"GET", b"/")
    assert ratio(lambda data: simple_request(data, Limits()), head, normal) < 8


def ratio(func: Callable[[bytes], object], slow: bytes, fast: bytes, rounds: int = 5, calls: int = 200,
          ) -> float:
    """Best-of-`rounds` time of `slow` over `fast`, interleaved so load hits both alike."""
    best = {slow: float("inf"), fast: float("inf")}
    for _ in range(rounds):
        for head in (slow, fast):
            started = time.perf_counter()
            for _ in range(calls):
                func(head)
            best[head] = min(best[head], time.perf_counter() - started)
    return best[slow] / best[fast]


def test_fast_path_sees_file_changes_after_the_ttl(root: Path) -> None:
    ctx = make_context(ServerConfig(root=str(root), access_log=False, file_ttl_s=0.0), FakeClock())
    run(ctx, iter([G]))
    (root / "a.html").write_bytes(b"changed\n")
    out, _ = run(ctx, iter([G]))
    assert out.endswith(b"\r\n\r\nchanged\n")


def test_a_head_the_fast_path_declines_is_classified_once_until_a_target_is_learned(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A plain head whose target is not answerable here (a `sendfile` file) is validated once, not on
    every request; once the full path teaches a target, declined heads are classified again (the same
    head may be fast now)."""
    from services.common.http1 import Limits
    from services.server import fast as fast_module

    calls: list[bytes] = []

    def counting(head: bytes, limits: Limits) -> tuple[bytes, bytes] | None:
        calls.append(head)
        return simple_request(head, limits)

    monkeypatch.setattr(fast_module, "simple_request", counting)
    routes = FastRoutes(Limits(), head_limit=4096)
    big = b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n"
    for _ in range(5):
        assert routes.route(big) is None
    assert len(calls) == 1
    routes.learn(b"/other.html", "/other.html")
    routes.learn(b"/other.html", "/other.html")  # the same again: nothing to reclassify
    assert routes.route(big) is None and len(calls) == 2
    routes.learn(b"/big.bin", "/big.bin")
    assert routes.route(big) == (True, b"/big.bin", "/big.bin") and len(calls) == 3
    assert routes.route(big) == (True, b"/big.bin", "/big.bin") and len(calls) == 3
