"""Bytes out: message heads, chunks, dates, and the keep-alive rule (RFC 9110/9112)."""

from __future__ import annotations

import email.utils
from collections.abc import Iterable
from http import HTTPStatus

from .headers import Headers

REASONS: dict[int, str] = {status.value: status.phrase for status in HTTPStatus}
LAST_CHUNK = b"0\r\n\r\n"

HeaderInput = Headers | Iterable[tuple[str, str]]


def _field_lines(headers: HeaderInput) -> str:
    fields = [f"{name}: {value}\r\n" for name, value in headers]
    lines = "".join(fields)
    if lines.count("\n") != len(fields) or lines.count("\r") != len(fields):
        raise ValueError("CR or LF inside a header field")
    return lines


def build_request_head(method: str, target: str, headers: HeaderInput) -> bytes:
    """`METHOD target HTTP/1.1` plus the fields and the blank line."""
    if any(ch in target for ch in " \r\n") or any(ch in method for ch in " \r\n"):
        raise ValueError("space, CR or LF in method or target")
    return f"{method} {target} HTTP/1.1\r\n{_field_lines(headers)}\r\n".encode("latin-1")


def build_response_head(status: int, headers: HeaderInput, reason: str | None = None) -> bytes:
    """`HTTP/1.1 status reason` plus the fields and the blank line."""
    phrase = REASONS.get(status, "") if reason is None else reason
    if "\r" in phrase or "\n" in phrase:
        raise ValueError("CR or LF in reason phrase")
    return f"HTTP/1.1 {status} {phrase}\r\n{_field_lines(headers)}\r\n".encode("latin-1")


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body; empty data gives b"" (the end is `LAST_CHUNK`)."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode_last_chunk(trailers: HeaderInput | None = None) -> bytes:
    """The last chunk with optional trailer fields."""
    if trailers is None:
        return LAST_CHUNK
    return b"0\r\n" + _field_lines(trailers).encode("latin-1") + b"\r\n"


def http_date(ts: float) -> str:
    """IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`."""
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(text: str) -> float | None:
    """Seconds since the epoch from IMF-fixdate, RFC 850 or asctime dates; None if unparsable."""
    try:
        parsed = email.utils.parsedate_tz(text.strip())
        if parsed is None:
            return None
        return float(email.utils.mktime_tz(parsed))
    except (ValueError, TypeError, OverflowError, IndexError):
        return None


def keep_alive(version: str, headers: Headers) -> bool:
    """Whether the connection stays open after this message (`version` as "HTTP/1.1" or "1.1").

    An HTTP/1.0 message with Transfer-Encoding has faulty framing: close after it (RFC 9112 §6.1).
    """
    names = headers._lower
    if "connection" not in names:
        return not version.endswith("1.0")
    if version.endswith("1.0") and "transfer-encoding" in names:
        return False
    tokens = headers.get_tokens("connection")
    if "close" in tokens:
        return False
    if version.endswith("1.0"):
        return "keep-alive" in tokens
    return True
