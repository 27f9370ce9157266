"""Response bytes: stored-entry heads built once, per-hit patches, proxy-made errors, header rewrites."""

from __future__ import annotations

import json
import time
from typing import Any

from services.common.http1 import Headers, build_response_head, http_date

from .cache.directives import DELTA_MAX
from .cache.entry import Entry
from .cache.ranges import ByteRange
from .cache.storage import hop_by_hop_names
from .cache.validation import not_modified_headers

VIA = "1.1 qoslab"
_HIT_TAILS = {status: f"X-Cache: {status}\r\n\r\n".encode() for status in
              ("HIT", "MISS", "REVALIDATED", "STALE")}
CLOSE_FIELD = b"Connection: close\r\n"


def entry_head(entry: Entry) -> bytes:
    """Status line and stored fields (with Content-Length), without Age, X-Cache or the blank line."""
    hidden = ("content-length", "surrogate-control")
    fields = [(n, v) for n, v in entry.headers.items() if n.lower() not in hidden]
    if not (entry.status in (204, 304) or 100 <= entry.status < 200):
        fields.append(("Content-Length", str(len(entry.body))))
    return build_response_head(entry.status, fields, entry.reason)[:-2]


def served_head(entry: Entry, now: float, cache_status: str, *, close: bool) -> bytes:
    """The head of a response served from storage: only Age (and X-Cache, Connection) differ between hits."""
    age = int(min(entry.age_s(now), DELTA_MAX))
    return b"%b%b%b%b" % (entry.head, b"Age: %d\r\n" % age, CLOSE_FIELD if close else b"",
                          _HIT_TAILS[cache_status])


def entry_response(entry: Entry, now: float, cache_status: str, *, head_only: bool, close: bool) -> bytes:
    """The bytes of a response served from storage."""
    head = served_head(entry, now, cache_status, close=close)
    return head if head_only else head + entry.body


def partial_response(entry: Entry, now: float, cache_status: str, part: ByteRange, *, close: bool) -> bytes:
    """206 with one byte range of a stored complete 200 (RFC 9110 §15.3.7)."""
    hidden = ("content-length", "surrogate-control", "content-range")
    fields = [(n, v) for n, v in entry.headers.items() if n.lower() not in hidden]
    body = entry.body[part.first:part.last + 1]
    fields += [("Content-Range", part.content_range(len(entry.body))), ("Content-Length", str(len(body))),
               ("Age", str(int(min(entry.age_s(now), DELTA_MAX)))), ("X-Cache", cache_status)]
    if close:
        fields.append(("Connection", "close"))
    return build_response_head(206, fields) + body


def unsatisfiable_response(entry: Entry, cache_status: str, *, close: bool) -> bytes:
    """416 for a range outside the stored representation, with its length in Content-Range."""
    extra = [("Content-Range", f"bytes */{len(entry.body)}"), ("Via", VIA), ("X-Cache", cache_status)]
    return simple_response(416, b"416 Range Not Satisfiable\n", close=close, extra=extra)


def not_modified_response(entry: Entry, now: float, cache_status: str, *, close: bool) -> bytes:
    fields = not_modified_headers(entry).items()
    fields += [("Age", str(int(min(entry.age_s(now), DELTA_MAX)))), ("X-Cache", cache_status)]
    if close:
        fields.append(("Connection", "close"))
    return build_response_head(304, fields)


def simple_response(status: int, body: bytes, *, content_type: str = "text/plain; charset=utf-8",
                    close: bool = False, head_only: bool = False,
                    extra: list[tuple[str, str]] | None = None) -> bytes:
    fields = [("Date", http_date(time.time())), ("Content-Type", content_type),
              ("Content-Length", str(len(body))), ("Cache-Control", "no-store"), *(extra or [])]
    if close:
        fields.append(("Connection", "close"))
    return build_response_head(status, fields) + (b"" if head_only else body)


def error_response(status: int, message: str, *, close: bool = False, head_only: bool = False,
                   cache_status: str | None = None) -> bytes:
    extra = [("Via", VIA)] + ([("X-Cache", cache_status)] if cache_status else [])
    return simple_response(status, f"{status} {message}\n".encode("utf-8", "replace"),
                           close=close, head_only=head_only, extra=extra)


def json_response(data: dict[str, Any], *, close: bool, head_only: bool) -> bytes:
    body = json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"
    return simple_response(200, body, content_type="application/json", close=close, head_only=head_only)


def forwarded_response_fields(headers: Headers, cache_status: str) -> Headers:
    """Upstream response fields as sent on to the client: hop-by-hop removed, Via and X-Cache added."""
    drop = hop_by_hop_names(headers) | {"x-cache", "surrogate-control"}
    out = Headers([(n, v) for n, v in headers.items() if n.lower() not in drop])
    out.add("Via", VIA)
    out.add("X-Cache", cache_status)
    return out

