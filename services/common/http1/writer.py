"""Bytes out: message heads, chunks, dates, and the keep-alive rule (RFC 9110/9112)."""

from __future__ import annotations

import calendar
import datetime
import email.utils
import re
import time
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


_DAY = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "(" + "|".join(_MONTHS) + ")"
_TIME = "([0-9]{2}):([0-9]{2}):([0-9]{2})"
# RFC 9110 §5.6.7, case-sensitive, single spaces: IMF-fixdate, then the obsolete rfc850-date and asctime-date.
_IMF_FIXDATE = re.compile(f"{_DAY}, ([0-9]{{2}}) {_MONTH} ([0-9]{{4}}) {_TIME} GMT")
_RFC850_DATE = re.compile(f"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), "
                          f"([0-9]{{2}})-{_MONTH}-([0-9]{{2}}) {_TIME} GMT")
_ASCTIME_DATE = re.compile(f"{_DAY} {_MONTH} ([0-9]{{2}}| [0-9]) {_TIME} ([0-9]{{4}})")


def parse_http_date(text: str, now: float | None = None) -> float | None:
    """Seconds since the epoch from an HTTP-date (RFC 9110 §5.6.7), None for anything else.

    Accepted: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), rfc850-date (`Sunday, 06-Nov-94 08:49:37 GMT`)
    and asctime-date (`Sun Nov  6 08:49:37 1994`), exactly: case-sensitive names, `GMT`, single spaces,
    two-digit day/hour/minute/second, a calendar date that exists. Not accepted: other zones or `UTC`,
    two-digit years outside rfc850-date, a missing comma, dashes in an IMF date, periods in the time.
    An rfc850 two-digit year more than 50 years after `now` (default: the clock) is in the past century.
    """
    value = text.strip(" \t")
    if (found := _IMF_FIXDATE.fullmatch(value)) is not None:
        _, day, month, year, hour, minute, second = found.groups()
        return _timestamp(int(year), month, day, hour, minute, second)
    if (found := _RFC850_DATE.fullmatch(value)) is not None:
        _, day, month, short_year, hour, minute, second = found.groups()
        this_year = time.gmtime(time.time() if now is None else now).tm_year
        year = this_year // 100 * 100 + int(short_year)
        if year > this_year + 50:
            year -= 100
        return _timestamp(year, month, day, hour, minute, second)
    if (found := _ASCTIME_DATE.fullmatch(value)) is not None:
        _, month, day, hour, minute, second, year = found.groups()
        return _timestamp(int(year), month, day, hour, minute, second)
    return None


def _timestamp(year: int, month: str, day: str, hour: str, minute: str, second: str) -> float | None:
    h, m, s = int(hour), int(minute), int(second)
    if h > 23 or m > 59 or s > 60:  # second 60: a leap second
        return None
    try:
        midnight = datetime.datetime(year, _MONTHS.index(month) + 1, int(day), tzinfo=datetime.UTC)
    except ValueError:  # 31 Feb, day 0, year 0
        return None
    return float(calendar.timegm(midnight.timetuple()) + h * 3600 + m * 60 + s)


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
