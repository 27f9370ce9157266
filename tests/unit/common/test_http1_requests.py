"""RequestParser: framing, pipelining, and a corpus of hostile inputs with the status each must get."""

from __future__ import annotations

import pytest

from services.common.http1 import (
    CHUNKED,
    Data,
    EndOfMessage,
    Event,
    HTTPError,
    Limits,
    Request,
    RequestParser,
)


def events_of(data: bytes, limits: Limits | None = None) -> list[Event]:
    parser = RequestParser(limits)
    parser.feed(data)
    out: list[Event] = []
    while (event := parser.next_event()) is not None:
        out.append(event)
    return out


def status_of(data: bytes, limits: Limits | None = None) -> int:
    with pytest.raises(HTTPError) as info:
        events_of(data, limits)
    return info.value.status_code


def test_simple_get() -> None:
    [request, end] = events_of(b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n")
    assert isinstance(request, Request)
    assert (request.method, request.target, request.version) == ("GET", "/a?b=1", "HTTP/1.1")
    assert request.headers.get("host") == "x"
    assert end == EndOfMessage()


def test_http10_without_host_is_fine() -> None:
    [request, _] = events_of(b"GET / HTTP/1.0\r\n\r\n")
    assert isinstance(request, Request) and request.version == "HTTP/1.0"


@pytest.mark.parametrize(("fields", "declared"), [
    (b"Content-Length: 42\r\n", 42), (b"Transfer-Encoding: chunked\r\n", CHUNKED), (b"", 0),
    (b"Content-Length: 007\r\n", 7)])
def test_declared_is_the_framing_of_the_last_head(fields: bytes, declared: int) -> None:
    parser = RequestParser()
    parser.feed(b"POST /u HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
    assert isinstance(parser.next_event(), Request)
    assert parser.declared == declared


def test_leading_blank_lines_ignored() -> None:
    assert isinstance(events_of(b"\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")[0], Request)


def test_content_length_body_and_pipelining() -> None:
    raw = (b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
           b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    out = events_of(raw)
    assert out[1:3] == [Data(b"hello"), EndOfMessage()]
    assert isinstance(out[3], Request) and out[3].target == "/next"


def test_chunked_with_extensions_and_trailers() -> None:
    raw = (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nChecksum: 9\r\n\r\n")
    out = events_of(raw)
    assert b"".join(e.data for e in out if isinstance(e, Data)) == b"abc0123456789"
    end = out[-1]
    assert isinstance(end, EndOfMessage) and end.trailers is not None
    assert end.trailers.get("checksum") == "9"


def test_equal_duplicate_content_length_accepted() -> None:
    out = events_of(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nhi")
    assert Data(b"hi") in out


def test_eof_inside_body_is_400() -> None:
    parser = RequestParser()
    parser.feed(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
    parser.feed_eof()
    assert isinstance(parser.next_event(), Request)
    assert parser.next_event() == Data(b"ab")
    with pytest.raises(HTTPError):
        parser.next_event()


def test_error_is_sticky() -> None:
    parser = RequestParser()
    parser.feed(b"BAD\r\n\r\n")
    for _ in range(2):
        with pytest.raises(HTTPError):
            parser.next_event()


HOSTILE: list[tuple[str, bytes, int]] = [
    ("cl+te", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n", 400),
    ("fold-first", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400),
    ("space-before-colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
    ("nul-in-value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400),
    ("bare-cr-in-value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400),
    ("bare-lf-in-value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\nb\r\n\r\n", 400),
    ("bad-name-char", b"GET / HTTP/1.1\r\nHost: x\r\nX(y): 1\r\n\r\n", 400),
    ("empty-name", b"GET / HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n", 400),
    ("no-colon", b"GET / HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n", 400),
    ("differing-cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
    ("cl-list-differs", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n", 400),
    ("negative-cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    ("plus-cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n", 400),
    ("hex-cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", 400),
    ("huge-cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
    ("body-too-large", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n", 413),
    ("unknown-te", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ("te-chunked-not-last", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("te-identity", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 501),
    ("http2", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    ("http3", b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    ("http10-major", b"GET / HTTP/10.0\r\nHost: x\r\n\r\n", 505),
    ("http09", b"GET /\r\n\r\n", 400),
    ("lowercase-version", b"GET / http/1.1\r\nHost: x\r\n\r\n", 400),
    ("double-space", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("tab-separator", b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("nul-in-target", b"GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("8bit-target", b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("bad-method", b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ("no-host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("two-hosts", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    # a Host value must be uri-host [":" port] (RFC 9112 §3.2): malformed IPv6 literals are 400 (issue 24)
    ("host-open-bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    ("host-v6-unbracketed", b"GET / HTTP/1.1\r\nHost: ::1\r\n\r\n", 400),
    ("host-v6-junk-after", b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400),
    ("host-v6-bad-literal", b"GET / HTTP/1.1\r\nHost: [::g]:80\r\n\r\n", 400),
    ("host-v6-bare-zone", b"GET / HTTP/1.1\r\nHost: [fe80::1%eth0]\r\n\r\n", 400),
    ("host-v6-empty-zone", b"GET / HTTP/1.1\r\nHost: [fe80::1%25]\r\n\r\n", 400),
    ("host-v4-in-brackets", b"GET / HTTP/1.1\r\nHost: [127.0.0.1]\r\n\r\n", 400),
    ("host-ipvfuture", b"GET / HTTP/1.1\r\nHost: [v1.a]\r\n\r\n", 400),
    ("host-bad-port", b"GET / HTTP/1.1\r\nHost: [::1]:8o\r\n\r\n", 400),
    ("host-port-too-big", b"GET / HTTP/1.1\r\nHost: x:65536\r\n\r\n", 400),
    ("host-userinfo", b"GET / HTTP/1.1\r\nHost: u@x\r\n\r\n", 400),
    ("host-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host-8bit", b"GET / HTTP/1.1\r\nHost: h\xe9\r\n\r\n", 400),
    ("long-line", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    ("long-line-partial", b"GET /" + b"a" * 9000, 414),
    ("big-headers", b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40000 + b"\r\n\r\n", 431),
    ("big-headers-partial", b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 40000, 431),
    ("many-headers", b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: 1\r\n" * 101 + b"\r\n", 431),
    ("bad-chunk-size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("chunk-size-overflow",
     b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 17 + b"\r\n", 400),
    ("chunk-no-crlf", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc", 400),
    ("chunk-line-too-long",
     b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"x" * 5000, 400),
    ("chunk-too-large", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n", 413),
    ("bad-trailer", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad\r\n\r\n", 400),
    # only SP and HTAB are whitespace (RFC 9110 §5.6.3); numbers are ASCII digits (issue 16)
    ("nbsp-after-cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\xa0\r\n\r\nabcde", 400),
    ("nel-after-cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\x85\r\n\r\nabcde", 400),
    ("superscript-cl", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\nab", 400),
    ("nbsp-after-chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\xa0\r\n\r\n", 501),
    # the ReDoS heads of issue 16 (items 9 and 10): answered, not backtracked over
    ("empty-values-redos", b"GET / HTTP/1.1\r\n" + b"X:        \r\n" * 8 + b"Y\r\n\r\n", 400),
    ("whitespace-run-redos", b"GET / HTTP/1.1\r\nHost: x\r\nX:" + b" " * 32000 + b"\x01\r\n\r\n", 400),
]


@pytest.mark.parametrize(("raw", "status"), [(raw, status) for _, raw, status in HOSTILE],
                         ids=[name for name, _, _ in HOSTILE])
def test_hostile_input(raw: bytes, status: int) -> None:
    assert status_of(raw) == status


@pytest.mark.parametrize(("raw", "status"), [(raw, status) for _, raw, status in HOSTILE],
                         ids=[name for name, _, _ in HOSTILE])
def test_hostile_input_byte_at_a_time(raw: bytes, status: int) -> None:
    parser = RequestParser()
    with pytest.raises(HTTPError) as info:
        for index in range(len(raw)):
            parser.feed(raw[index:index + 1])
            while parser.next_event() is not None:
                pass
    assert info.value.status_code == status


def test_custom_limits() -> None:
    limits = Limits(max_request_line=20, max_header_bytes=30, max_headers=2, max_body=3)
    assert status_of(b"GET /" + b"a" * 30 + b" HTTP/1.1\r\n\r\n", limits) == 414
    assert status_of(b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n", limits) == 431
    assert status_of(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n", limits) == 413


@pytest.mark.parametrize("host", [
    "", "x", "x:", "example.com:8081", "10.0.0.1", "[::1]", "[::1]:8081", "[fd00::10]:8001",
    "[fe80::1%25eth0]:80", "[::ffff:127.0.0.1]", "a%2Db", "sub_domain.example",
])
def test_valid_host_values_are_accepted(host: str) -> None:
    parser = RequestParser()
    parser.feed(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
    request = parser.next_event()
    assert isinstance(request, Request) and request.headers.get("host") == host
