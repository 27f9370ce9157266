"""The load generator's minimal response reader, against the shared http1 parser (the reference):
the same stream, whole and one byte at a time, gives the same responses (status, body size, X-Cache)."""

from __future__ import annotations

import pytest

from services.client.load.model import LoadPlan
from services.client.load.reader import Reply, ReplyError, ReplyReader
from services.common.http1 import Data, EndOfMessage, Response, ResponseParser

STREAMS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Cache: HIT\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n\r\nno!",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n10\r\n" + b"y" * 16
    + b"\r\n0\r\nTrailer: x\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
]


def reference(stream: bytes) -> list[tuple[int, int, str]]:
    parser = ResponseParser()
    for _ in range(10):
        parser.expect("GET")
    parser.feed(stream)
    out: list[tuple[int, int, str]] = []
    status, size, cache = 0, 0, ""
    while (event := parser.next_event()) is not None:
        if isinstance(event, Response):
            status, size, cache = event.status, 0, event.headers.get("X-Cache", "") or ""
        elif isinstance(event, Data):
            size += len(event.data)
        elif isinstance(event, EndOfMessage) and status >= 200:
            out.append((status, size, cache))
    return out


def ours(stream: bytes, step: int) -> list[tuple[int, int, str]]:
    reader = ReplyReader()
    replies: list[Reply] = []
    for start in range(0, len(stream), step):
        replies += reader.feed(stream[start:start + step])
    assert reader.idle
    return [(r.status, r.body_bytes, r.x_cache) for r in replies]


@pytest.mark.parametrize("stream", STREAMS)
@pytest.mark.parametrize("step", [1, 3, 10_000])
def test_same_responses_as_the_shared_parser(stream: bytes, step: int) -> None:
    assert ours(stream, step) == reference(stream)


def test_close_is_reported() -> None:
    reader = ReplyReader()
    replies = reader.feed(STREAMS[3])
    assert [r.close for r in replies] == [False, True]
    assert ReplyReader().feed(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx")[0].close


def test_close_delimited_body_ends_at_eof() -> None:
    reader = ReplyReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\n\r\nabc") == []
    assert reader.feed(b"de") == []
    assert reader.feed_eof() == Reply(200, 5, "", True)


@pytest.mark.parametrize("bad", [b"HTTP/2 200 OK\r\n\r\n", b"HTTP/1.1 2x0 OK\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nContent-Length: 1\xb2\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                                 b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxAB"])
def test_malformed_responses_raise(bad: bytes) -> None:
    with pytest.raises(ReplyError):
        ReplyReader().feed(bad)


def test_cut_response_at_eof_raises() -> None:
    reader = ReplyReader()
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab")
    with pytest.raises(ReplyError):
        reader.feed_eof()


@pytest.mark.parametrize(("fields", "message"), [
    ({"connections": 0, "requests": 1}, "at least 1"), ({"requests": None}, "count or a duration"),
    ({"requests": 5, "duration_s": 1.0}, "count or a duration"), ({"requests": 1, "rate_rps": 0.0}, "rate"),
    ({"requests": 1, "pipeline": 0}, "at least 1")])
def test_plan_validation(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadPlan("h", 1, b"", **fields).validate()  # type: ignore[arg-type]


def test_split_shares_connections_requests_and_rate() -> None:
    from services.client.load.run import split

    plan = LoadPlan("h", 1, b"r", connections=5, requests=11, rate_rps=100.0)
    parts = split(plan, 2)
    assert [(p.connections, p.requests) for p in parts] == [(3, 6), (2, 5)]
    assert sum(p.rate_rps or 0 for p in parts) == pytest.approx(100.0)
    assert split(plan, 9) == split(plan, 5) and len(split(plan, 9)) == 5  # no worker without a connection
    timed = LoadPlan("h", 1, b"r", connections=2, duration_s=3.0)
    assert [p.duration_s for p in split(timed, 2)] == [3.0, 3.0]
    assert split(LoadPlan("h", 1, b"r", connections=4, requests=2), 4) == [
        LoadPlan("h", 1, b"r", connections=1, requests=1)] * 2
