"""Range requests answered from a stored complete response (RFC 9110 §14.2, §13.1.5). Pure.

Only one byte range is served as 206; anything this module does not serve (other units, several ranges,
bad syntax, a failed If-Range) means "ignore Range and send the whole 200", which §14.2 allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.http1.headers import Headers
from services.common.http1.writer import parse_http_date

from ..numbers import parse_uint


@dataclass(frozen=True, slots=True)
class ByteRange:
    first: int
    last: int  # inclusive

    def content_range(self, length: int) -> str:
        return f"bytes {self.first}-{self.last}/{length}"


UNSATISFIABLE = "unsatisfiable"
RangePlan = ByteRange | str | None  # a range to serve, UNSATISFIABLE (416), or None (serve 200)


def _digits(text: str) -> int | None:
    return parse_uint(text)  # ASCII only; a position beyond 2^63 is past the end of anything stored


def parse_range(value: str, length: int) -> RangePlan:
    """One `bytes=` range against a representation of `length` bytes."""
    unit, sep, spec = value.strip().partition("=")
    if not sep or unit.strip().lower() != "bytes" or "," in spec:
        return None
    start_text, dash, end_text = spec.strip().partition("-")
    if not dash:
        return None
    start, end = _digits(start_text.strip()), _digits(end_text.strip())
    if start_text.strip() == "":  # suffix-byte-range-spec: the last N bytes
        if end is None:
            return None
        return ByteRange(max(0, length - end), length - 1) if end > 0 and length > 0 else UNSATISFIABLE
    if start is None or (end_text.strip() and (end is None or end < start)):
        return None
    if start >= length:
        return UNSATISFIABLE
    return ByteRange(start, length - 1 if end is None else min(end, length - 1))


def if_range_holds(if_range: str | None, stored: Headers) -> bool:
    """§13.1.5: an entity-tag must match the stored ETag strongly; a date must equal Last-Modified."""
    if if_range is None:
        return True
    text = if_range.strip()
    if text.startswith('"') or text.startswith("W/"):
        etag = stored.get("etag")
        return not text.startswith("W/") and etag is not None and etag.strip() == text
    date = parse_http_date(text)
    last_modified = stored.get("last-modified")
    return date is not None and last_modified is not None and parse_http_date(last_modified) == date


def plan_range(method: str, status: int, request_headers: Headers, stored: Headers, length: int) -> RangePlan:
    """What to answer to a request served from a stored response: a ByteRange, UNSATISFIABLE or None."""
    ranges = request_headers.get_all("range")
    if method != "GET" or status != 200 or len(ranges) != 1:
        return None
    if not if_range_holds(request_headers.get("if-range"), stored):
        return None
    return parse_range(ranges[0], length)
