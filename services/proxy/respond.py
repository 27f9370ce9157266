"""Response bytes: stored-entry heads built once, per-hit patches, proxy-made errors, header rewrites.

`connection` is the response's `Connection` field line (`services.common.connection.heads`), so the rule
for it is the one the server uses too.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from services.common.connection.heads import CLOSE
from services.common.http1 import Headers, build_response_head, http_date

from .cache.directives import DELTA_MAX
from .cache.entry import Entry
from .cache.ranges import ByteRange
from .cache.storage import hop_by_hop_names
from .cache.validation import not_modified_headers

VIA = "1.1 qoslab"
_HIT_TAILS = {status: f"X-Cache: {status}\r\n\r\n".encode() for status in
              ("HIT", "MISS", "REVALIDATED", "STALE")}


def entry_head(entry: Entry) -> bytes:
    """Status line and stored fields (with Content-Length), without Age, X-Cache or the blank line."""
    hidden = ("content-length", "surrogate-control")
    fields = [(n, v) for n, v in entry.headers.items() if n.lower() not in hidden]
    if not (entry.status in (204, 304) or 100 <= entry.status < 200):
        fields.append(("Content-Length", str(len(entry.body))))
    return build_response_head(entry.status, fields, entry.reason)[:-2]


def served_age(entry: Entry, now: float) -> int:
    """The Age field of a response served from `entry` at `now`: whole seconds, at most 2^31 (§5.1)."""
    return int(min(entry.age_s(now), DELTA_MAX))


def served_age_until(entry: Entry, now: float) -> float:
    """The first instant after `now` at which `served_age` differs from its value at `now` (inf once it
    is capped): a head rendered at `now` may be reused before then (`hits.py`).

    The candidate is where the age reaches the next whole second; float rounding may put it an ulp or two
    off, so it is moved, an ulp at a time, until `served_age` itself differs at it and not just before
    (the age never decreases as time grows). `now` (nothing to reuse) if that takes more than a few ulps."""
    age = served_age(entry, now)
    if age >= DELTA_MAX:
        return math.inf
    until = entry.response_time + (age + 1 - entry.initial_age_s)
    for _ in range(8):
        if served_age(entry, until) == age:
            until = math.nextafter(until, math.inf)
        elif served_age(entry, math.nextafter(until, -math.inf)) != age:
            until = math.nextafter(until, -math.inf)
        else:
            return until if until > now else now
    return now


def with_connection(head: bytes, connection: bytes) -> bytes:
    """`head` (through its blank line) with the `connection` field line at its end."""
    return head[:-2] + connection + b"\r\n" if connection else head


def served_head(entry: Entry, now: float, cache_status: str, connection: bytes) -> bytes:
    """The head of a response served from storage: only Age (and X-Cache, Connection) differ between hits."""
    return b"%b%b%b%b" % (entry.head, b"Age: %d\r\n" % served_age(entry, now), connection,
                          _HIT_TAILS[cache_status])


def partial_response(entry: Entry, now: float, cache_status: str, part: ByteRange, *,
                     connection: bytes) -> bytes:
    """206 with one byte range of a stored complete 200 (RFC 9110 §15.3.7)."""
    hidden = ("content-length", "surrogate-control", "content-range")
    fields = [(n, v) for n, v in entry.headers.items() if n.lower() not in hidden]
    body = entry.body[part.first:part.last + 1]
    fields += [("Content-Range", part.content_range(len(entry.body))), ("Content-Length", str(len(body))),
               ("Age", str(served_age(entry, now))), ("X-Cache", cache_status)]
    return with_connection(build_response_head(206, fields), connection) + body


def unsatisfiable_response(entry: Entry, cache_status: str, *, connection: bytes) -> bytes:
    """416 for a range outside the stored representation, with its length in Content-Range."""
    extra = [("Content-Range", f"bytes */{len(entry.body)}"), ("Via", VIA), ("X-Cache", cache_status)]
    return simple_response(416, b"416 Range Not Satisfiable\n", connection=connection, extra=extra)


def not_modified_response(entry: Entry, now: float, cache_status: str, *, connection: bytes) -> bytes:
    fields = not_modified_headers(entry).items()
    fields += [("Age", str(served_age(entry, now))), ("X-Cache", cache_status)]
    return with_connection(build_response_head(304, fields), connection)


def simple_response(status: int, body: bytes, *, content_type: str = "text/plain; charset=utf-8",
                    connection: bytes = b"", head_only: bool = False,
                    extra: list[tuple[str, str]] | None = None) -> bytes:
    fields = [("Date", http_date(time.time())), ("Content-Type", content_type),
              ("Content-Length", str(len(body))), ("Cache-Control", "no-store"), *(extra or [])]
    return with_connection(build_response_head(status, fields), connection) + (b"" if head_only else body)


def error_response(status: int, message: str, *, connection: bytes = CLOSE, head_only: bool = False,
                   cache_status: str | None = None) -> bytes:
    """A response the proxy makes itself for an error; by default it closes the connection."""
    extra = [("Via", VIA)] + ([("X-Cache", cache_status)] if cache_status else [])
    return simple_response(status, f"{status} {message}\n".encode("utf-8", "replace"),
                           connection=connection, head_only=head_only, extra=extra)


def json_response(data: dict[str, Any], *, connection: bytes, head_only: bool) -> bytes:
    body = json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"
    return simple_response(200, body, content_type="application/json", connection=connection,
                           head_only=head_only)


def forwarded_response_fields(headers: Headers, cache_status: str) -> Headers:
    """Upstream response fields as sent on to the client: hop-by-hop removed, Via and X-Cache added."""
    drop = hop_by_hop_names(headers) | {"x-cache", "surrogate-control"}
    out = Headers([(n, v) for n, v in headers.items() if n.lower() not in drop])
    out.add("Via", VIA)
    out.add("X-Cache", cache_status)
    return out

