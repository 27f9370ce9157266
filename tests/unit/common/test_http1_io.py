"""h11-style: every message parses the same whole, one byte at a time, and followed by garbage."""

from __future__ import annotations

import pytest

from services.common.http1 import (
    Data,
    EndOfMessage,
    Event,
    HTTPError,
    RequestParser,
    ResponseParser,
)

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"HEAD /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
    b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
]
RESPONSES = [
    ("GET", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
    ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"),
    ("GET", b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
    ("GET", b"HTTP/1.1 204 No Content\r\n\r\n"),
    ("GET", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"),
    ("GET", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"),
    ("GET", b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
]


def normalise(events: list[Event]) -> list[Event]:
    """Merge adjacent Data events (chunk boundaries depend on how bytes arrived)."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, Data) and out and isinstance(out[-1], Data):
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
    return out


def run(parser: RequestParser | ResponseParser, pieces: list[bytes], eof: bool = False) -> list[Event]:
    out: list[Event] = []
    for piece in pieces:
        parser.feed(piece)
        while (event := parser.next_event()) is not None:
            out.append(event)
    if eof:
        parser.feed_eof()
        while (event := parser.next_event()) is not None:
            out.append(event)
    return normalise(out)


def until_last_end(events: list[Event]) -> list[Event]:
    ends = [i for i, e in enumerate(events) if isinstance(e, EndOfMessage)]
    return events[: ends[-1] + 1]


@pytest.mark.parametrize("raw", REQUESTS)
def test_request_whole_vs_bytes_vs_garbage(raw: bytes) -> None:
    whole = run(RequestParser(), [raw])
    assert isinstance(whole[-1], EndOfMessage)
    assert run(RequestParser(), [raw[i:i + 1] for i in range(len(raw))]) == whole
    parser = RequestParser()
    parser.feed(raw + b"\x00garbage\r\n\r\n")
    seen: list[Event] = []
    with pytest.raises(HTTPError):
        while (event := parser.next_event()) is not None:
            seen.append(event)
    assert until_last_end(normalise(seen)) == whole


@pytest.mark.parametrize(("method", "raw"), RESPONSES)
def test_response_whole_vs_bytes_vs_garbage(method: str, raw: bytes) -> None:
    def fresh() -> ResponseParser:
        parser = ResponseParser()
        parser.expect(method)
        return parser

    whole = run(fresh(), [raw])
    assert isinstance(whole[-1], EndOfMessage)
    assert run(fresh(), [raw[i:i + 1] for i in range(len(raw))]) == whole
    parser = fresh()
    parser.feed(raw + b"garbage\r\n\r\n")
    seen: list[Event] = []
    with pytest.raises(HTTPError):
        while (event := parser.next_event()) is not None:
            seen.append(event)
    assert until_last_end(normalise(seen)) == whole


def test_response_read_until_close() -> None:
    parser = ResponseParser()
    parser.expect("GET")
    events = run(parser, [b"HTTP/1.0 200 OK\r\n\r\nab", b"cd"], eof=True)
    assert events[1:] == [Data(b"abcd"), EndOfMessage()]


def test_response_pipelined_head_then_get() -> None:
    parser = ResponseParser()
    parser.expect("HEAD")
    parser.expect("GET")
    raw = (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
           b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    events = run(parser, [raw])
    assert [type(e).__name__ for e in events] == ["Response", "EndOfMessage", "Response", "Data",
                                                  "EndOfMessage"]


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/2 200 OK\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
])
def test_bad_responses_are_502(raw: bytes) -> None:
    parser = ResponseParser()
    parser.expect("GET")
    with pytest.raises(HTTPError) as info:
        run(parser, [raw])
    assert info.value.status_code == 502


def test_response_truncated_body_is_502() -> None:
    parser = ResponseParser()
    parser.expect("GET")
    with pytest.raises(HTTPError) as info:
        run(parser, [b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab"], eof=True)
    assert info.value.status_code == 502


def test_response_unknown_coding_reads_until_close() -> None:
    parser = ResponseParser()
    parser.expect("GET")
    events = run(parser, [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz"], eof=True)
    assert events[1:] == [Data(b"zz"), EndOfMessage()]
