"""`check_request_head` is the parser's own head validation: same verdict, same status, every head."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common.http1 import (
    CHUNKED,
    Headers,
    HTTPError,
    Limits,
    Request,
    RequestParser,
    check_request_head,
    keep_alive,
    parse_decimal,
    parse_request_head,
)

from .test_http1_requests import HOSTILE

SMALL = Limits(max_request_line=64, max_header_bytes=128, max_headers=5, max_body=50)


def parser_verdict(head: bytes, limits: Limits, step: int = 0) -> int | None:
    """The status the full parser answers `head` with (None: a Request), fed whole or `step` at a time."""
    parser = RequestParser(limits)
    pieces = [head] if not step else [head[i:i + step] for i in range(0, len(head), step)]
    try:
        for piece in pieces:
            parser.feed(piece)
            event = parser.next_event()
            if event is not None:
                assert isinstance(event, Request)
                return None
    except HTTPError as exc:
        return exc.status_code
    raise AssertionError(f"no verdict for a complete head {head!r}")


def verdict(head: bytes, limits: Limits) -> int | None:
    error = check_request_head(head, limits)
    return None if error is None else error.status_code


COMPLETE = {name: raw[:raw.index(b"\r\n\r\n") + 4] for name, raw, _ in HOSTILE if b"\r\n\r\n" in raw}


@pytest.mark.parametrize("head", list(COMPLETE.values()), ids=list(COMPLETE))
def test_hostile_heads_get_the_parsers_status(head: bytes) -> None:
    assert verdict(head, Limits()) == parser_verdict(head, Limits()) == parser_verdict(head, Limits(), 1)


PIECES = [b"GET ", b"POST ", b"HEAD ", b"/", b"a", b" HTTP/1.1", b" HTTP/1.0", b" HTTP/2.0", b"\r\n",
          b"Host: x", b"host:", b"Content-Length: ", b"3", b"99", b"\xb2", b"Transfer-Encoding: ", b"chunked",
          b"gzip", b",", b" ", b"\t", b":", b"\x00", b"\x01", b"\x7f", b"\xa0", b"\x85", b"\xff", b"X:",
          b"X:        ", b"Expect: ", b"\r", b"\n"]
heads = st.lists(st.sampled_from(PIECES), max_size=40).map(lambda parts: b"".join(parts) + b"\r\n\r\n")


@settings(deadline=None)
@given(heads, st.sampled_from([Limits(), SMALL]))
def test_validator_and_parser_agree(head: bytes, limits: Limits) -> None:
    head = head[:head.index(b"\r\n\r\n") + 4]  # one head, cut as a fast path cuts it
    if head.startswith(b"\r\n"):
        return  # the parser skips leading empty lines before a head; fast paths see no such head
    assert verdict(head, limits) == parser_verdict(head, limits) == parser_verdict(head, limits, 7)


def test_parse_request_head_gives_request_and_framing() -> None:
    head = b"POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length:  7 \t\r\nX-Empty:\r\n\r\n"
    parsed = parse_request_head(head)
    assert (parsed.request.method, parsed.request.target, parsed.body_length) == ("POST", "/a?b", 7)
    assert parsed.request.headers.items() == [("Host", "x"), ("Content-Length", "7"), ("X-Empty", "")]
    chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
    assert parse_request_head(chunked).body_length == CHUNKED
    assert check_request_head(b"GET / HTTP/1.1\r\nHost: x\r\n") is not None  # not a complete head


@pytest.mark.parametrize(("text", "value"), [
    ("0", 0), ("5", 5), ("007", 7), ("9" * 18, 10**18 - 1), ("9" * 19, None), ("", None), ("\xb2", None),
    ("\u0663", None), ("1_0", None), ("+1", None), ("-1", None), (" 1", None), ("1\xa0", None), ("0x1", None),
])
def test_parse_decimal_takes_ascii_digits_only(text: str, value: int | None) -> None:
    assert parse_decimal(text) == value


def test_http10_with_transfer_encoding_closes_after_the_message() -> None:
    """RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing, so close after it."""
    fields = Headers([("Connection", "keep-alive"), ("Transfer-Encoding", "chunked")])
    assert not keep_alive("HTTP/1.0", fields)
    assert keep_alive("HTTP/1.0", Headers([("Connection", "keep-alive")]))
    assert keep_alive("HTTP/1.1", fields)


def test_tokens_strip_only_sp_and_htab() -> None:
    assert Headers([("TE", " a ,\tb\t, c\xa0,\x85")]).get_tokens("te") == ["a", "b", "c\xa0", "\x85"]
