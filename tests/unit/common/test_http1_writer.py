"""Writer helpers and Headers."""

from __future__ import annotations

import pytest

from services.common.http1 import (
    LAST_CHUNK,
    Headers,
    build_request_head,
    build_response_head,
    encode_chunk,
    encode_last_chunk,
    http_date,
    keep_alive,
    parse_http_date,
)


def test_heads() -> None:
    assert build_request_head("GET", "/x", [("Host", "a")]) == b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"
    assert build_response_head(404, Headers([("Content-Length", "0")])) == (
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert build_response_head(299, [], reason="Odd") == b"HTTP/1.1 299 Odd\r\n\r\n"


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\rb"])
def test_header_injection_refused(value: str) -> None:
    with pytest.raises(ValueError):
        build_response_head(200, [("X", value)])


def test_chunks() -> None:
    assert encode_chunk(b"hello") == b"5\r\nhello\r\n"
    assert encode_chunk(b"") == b""
    assert LAST_CHUNK == encode_last_chunk() == b"0\r\n\r\n"
    assert encode_last_chunk([("T", "1")]) == b"0\r\nT: 1\r\n\r\n"


@pytest.mark.parametrize("text", ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                  "Sun Nov  6 08:49:37 1994"])
def test_dates(text: str) -> None:
    assert parse_http_date(text) == 784111777.0
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize("text", ["", "junk", "Sun, 99 Foo 1994 99:99:99 GMT", "\x00"])
def test_bad_dates(text: str) -> None:
    assert parse_http_date(text) is None


@pytest.mark.parametrize(("version", "connection", "expected"), [
    ("HTTP/1.1", None, True), ("HTTP/1.1", "close", False), ("HTTP/1.1", "Keep-Alive, Close", False),
    ("HTTP/1.0", None, False), ("HTTP/1.0", "keep-alive", True), ("1.1", None, True)])
def test_keep_alive(version: str, connection: str | None, expected: bool) -> None:
    headers = Headers([("Connection", connection)] if connection else [])
    assert keep_alive(version, headers) is expected


def test_headers_multimap() -> None:
    headers = Headers([("A", "1"), ("b", "2"), ("a", "3")])
    assert headers.get("a") == "1" and headers.get_all("A") == ["1", "3"]
    assert headers.get("missing", "d") == "d" and "B" in headers and "c" not in headers
    headers.set("A", "9")
    assert headers.items() == [("A", "9"), ("b", "2")]
    headers.add("Conn", "a, B ,,c")
    assert headers.get_tokens("conn") == ["a", "b", "c"]
    copy = headers.copy()
    copy.remove("b")
    assert len(copy) == 2 and len(headers) == 3 and copy != headers
    assert list(copy) == [("A", "9"), ("Conn", "a, B ,,c")]
