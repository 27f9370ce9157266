"""Property tests: whatever bytes arrive, the parsers raise nothing but HTTPError."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.http1 import HTTPError, Limits, RequestParser, ResponseParser

PIECES = [b"GET ", b"POST ", b"/", b"a", b" HTTP/1.1", b" HTTP/1.0", b"\r\n", b"\r\n\r\n", b"Host: x",
          b"Content-Length: ", b"3", b"-1", b"Transfer-Encoding: ", b"chunked", b"gzip", b",", b" ", b"\t",
          b":", b"\x00", b"\xff", b"0\r\n", b"ff;e=1", b"HTTP/1.1 200 OK", b"HTTP/1.1 100 Continue"]
structured = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)
inputs = st.one_of(st.binary(max_size=300), structured)


def drain(parser: RequestParser | ResponseParser, data: bytes, split: int) -> None:
    try:
        for piece in (data[:split], data[split:]):
            parser.feed(piece)
            while parser.next_event() is not None:
                pass
        parser.feed_eof()
        for _ in range(1000):
            if parser.next_event() is None:
                break
    except HTTPError as exc:
        assert exc.status_code in {400, 413, 414, 431, 501, 502, 505}


@settings(deadline=None)
@given(inputs, st.integers(min_value=0, max_value=300))
def test_request_parser_raises_only_http_error(data: bytes, split: int) -> None:
    drain(RequestParser(Limits(max_request_line=64, max_header_bytes=128, max_headers=5, max_body=50)),
          data, split)


@settings(deadline=None)
@given(inputs, st.integers(min_value=0, max_value=300), st.sampled_from(["GET", "HEAD", "CONNECT"]))
def test_response_parser_raises_only_http_error(data: bytes, split: int, method: str) -> None:
    parser = ResponseParser(Limits(max_request_line=64, max_header_bytes=128, max_headers=5))
    parser.expect(method)
    drain(parser, data, split)
