"""The one validation of a request head, shared by the full parser and every fast path.

    from services.common.http1 import check_request_head, parse_request_head

    error = check_request_head(head, limits)   # the HTTPError the full parser would raise, or None
    parsed = parse_request_head(head, limits)  # a RequestHead, or raises that same HTTPError

`head` is one complete request head: the request line through the empty line that ends it
(`b"GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n"`), without the empty lines a client may send before it (the
parser skips those). `RequestParser` parses every head with `parse_request_head`, so a fast path that
answers only heads for which `check_request_head` returns None accepts exactly what the full path
accepts, and refuses with the same status. Checks run in the parser's order: size limits (414, 431),
field lines (400), request line (400, 505), Host (400: missing, repeated, or not
`uri-host [":" port]`, `services.common.inet.parse_authority`), framing (400, 501), body size (413).

Every check is linear in the size of the head: `find`/`split`/`strip`, and regexes made of one
possessive character class per part (no nested or adjacent optional quantifiers over the same bytes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..inet import is_authority
from ._fields import TOKEN, content_length, parse_fields
from .errors import HTTPError
from .events import Request
from .headers import Headers

_REQUEST_LINE = re.compile(rb"(" + TOKEN + rb") ([\x21-\x7e]++) HTTP/([0-9])\.([0-9])")
_ANY_VERSION = re.compile(rb"(" + TOKEN + rb") ([\x21-\x7e]++) HTTP/[0-9]++\.[0-9]++")
CHUNKED = -1  # `RequestHead.body_length` of a chunked body


@dataclass(frozen=True)
class Limits:
    max_request_line: int = 8192
    max_header_bytes: int = 32768
    max_headers: int = 100
    max_body: int = 64 * 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class RequestHead:
    """A valid request head: the request, and its body framing (`body_length` bytes, or CHUNKED)."""

    request: Request
    body_length: int


def check_request_head(head: bytes, limits: Limits = DEFAULT_LIMITS) -> HTTPError | None:
    """None when the full parser accepts `head`, else the HTTPError (status to answer) it would raise."""
    try:
        parse_request_head(head, limits)
    except HTTPError as exc:
        return exc
    return None


def parse_request_head(head: bytes, limits: Limits = DEFAULT_LIMITS) -> RequestHead:
    """Parse one complete request head (through its `\\r\\n\\r\\n`); raises HTTPError when invalid."""
    if not head.endswith(b"\r\n\r\n"):
        raise HTTPError(400, "incomplete request head")
    end = len(head) - 4
    line_end = head.find(b"\r\n")
    if line_end > limits.max_request_line:
        raise HTTPError(414, "request line too long")
    if end - line_end > limits.max_header_bytes:
        raise HTTPError(431, "header section too large")
    lines = head[:end].split(b"\r\n")
    if len(lines) - 1 > limits.max_headers:
        raise HTTPError(431, "too many header fields")
    headers = parse_fields(lines[1:], 400)
    request = _request_line(lines[0], headers)
    body_length = request_body_length(headers)
    if body_length > limits.max_body:
        raise HTTPError(413, "request body too large")
    return RequestHead(request, body_length)


def _request_line(line: bytes, headers: Headers) -> Request:
    found = _REQUEST_LINE.fullmatch(line)
    if found is None:
        if _ANY_VERSION.fullmatch(line):
            raise HTTPError(505, "HTTP version not supported")
        raise HTTPError(400, "invalid request line")
    major, minor = found.group(3), found.group(4)
    if major != b"1":
        raise HTTPError(505, "HTTP version not supported")
    version = "HTTP/1.0" if minor == b"0" else "HTTP/1.1"
    names = headers._lower
    hosts = names.count("host")
    if hosts > 1 or (version == "HTTP/1.1" and not hosts):
        raise HTTPError(400, "missing or repeated Host header")
    if hosts and not is_authority(headers._items[names.index("host")][1]):
        raise HTTPError(400, "invalid Host header")  # RFC 9112 §3.2: a Host of invalid syntax is a 400
    return Request(found.group(1).decode("ascii"), found.group(2).decode("ascii"), version, headers)


def request_body_length(headers: Headers) -> int:
    """Body framing of a request (RFC 9112 §6.3): Content-Length bytes, 0 without one, or CHUNKED."""
    names = headers._lower
    if "transfer-encoding" in names:
        if "content-length" in names:
            raise HTTPError(400, "both Transfer-Encoding and Content-Length")
        codings = headers.get_tokens("transfer-encoding")
        if codings == ["chunked"]:
            return CHUNKED
        if "chunked" in codings and codings[-1] != "chunked":
            raise HTTPError(400, "chunked is not the final transfer coding")
        raise HTTPError(501, "unsupported transfer coding")
    if "content-length" in names:
        return content_length(headers.get_all("content-length"), 400)
    return 0
