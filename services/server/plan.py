"""Request → response plan (pure apart from `Site.find`): methods, targets, conditionals, ranges.

The Protocol class adds the status line, Date/Server and Connection, and carries out the plan: write
`body`, or send `length` bytes of `entry` from `offset` (from memory when cached, else with sendfile).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.common.http1 import OWS, REASONS, Request, parse_decimal, parse_http_date

from .files import FileEntry, Listing, Redirect, Site, validator_fields
from .paths import url_path

ALLOW = "GET, HEAD, OPTIONS"
IGNORE = "ignore"
UNSATISFIABLE = "unsatisfiable"

Special = Callable[[], tuple[str, bytes]]  # → (content type, body)


@dataclass(slots=True)
class Plan:
    status: int
    head: bytes  # field lines (CRLF-terminated) without Date, Server, Connection
    body: bytes = b""
    entry: FileEntry | None = None
    offset: int = 0
    length: int = 0


def error_plan(status: int, extra: str = "") -> Plan:
    body = f"{status} {REASONS.get(status, 'Error')}\n".encode()
    head = f"Content-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n{extra}"
    return Plan(status, head.encode("latin-1"), body)


def _small(status: int, kind: str, body: bytes, cache: str) -> Plan:
    head = f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
    if cache:
        head += f"Cache-Control: {cache}\r\n"
    return Plan(status, head.encode("latin-1"), body)


def plan_request(request: Request, site: Site, specials: Mapping[str, Special], now: float) -> Plan:
    """What to answer to `request`; `now` is the monotonic time used for the file cache."""
    method = request.method
    if method not in ("GET", "HEAD", "OPTIONS"):
        return error_plan(405, f"Allow: {ALLOW}\r\n")
    if method == "OPTIONS":
        return Plan(200, f"Allow: {ALLOW}\r\nContent-Length: 0\r\n".encode())
    path = url_path(request.target)
    if path is None:
        return error_plan(400)
    special = specials.get(path)
    if special is not None:
        kind, body = special()
        return _small(200, kind, body, "no-store")
    found = site.find(path, now)
    if isinstance(found, FileEntry):
        return plan_file(request, found)
    if isinstance(found, Redirect):
        query = request.target.partition("?")[2]
        location = found.location + ("?" + query if query else "")
        return error_plan(301, f"Location: {location}\r\n")
    if isinstance(found, Listing):
        return _small(200, "text/html; charset=utf-8", found.body, found.cache_control)
    return error_plan(404)


def plan_file(request: Request, entry: FileEntry) -> Plan:
    headers = request.headers
    if not _has_conditions(request):
        return Plan(200, entry.head_200, b"", entry, 0, entry.size)
    status = conditional_status(request, entry)
    if status == 304:
        return Plan(304, validator_fields(entry).encode("latin-1"))
    if status == 412:
        return error_plan(412)
    range_header = headers.get("range")
    if range_header is None or request.method != "GET" or not _if_range_ok(headers.get("if-range"), entry):
        return Plan(200, entry.head_200, b"", entry, 0, entry.size)
    chosen = byte_range(range_header, entry.size)
    if chosen == IGNORE:
        return Plan(200, entry.head_200, b"", entry, 0, entry.size)
    if chosen == UNSATISFIABLE or isinstance(chosen, str):
        return error_plan(416, f"Content-Range: bytes */{entry.size}\r\n")
    start, end = chosen
    head = (f"Content-Type: {entry.content_type}\r\nContent-Length: {end - start + 1}\r\n"
            f"Content-Range: bytes {start}-{end}/{entry.size}\r\n{validator_fields(entry)}"
            "Accept-Ranges: bytes\r\n")
    return Plan(206, head.encode("latin-1"), b"", entry, start, end - start + 1)


_CONDITIONS = frozenset({"if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "range"})


def _has_conditions(request: Request) -> bool:
    return request.headers.has_any(_CONDITIONS)


def _etags(value: str) -> list[str]:
    return [tag for part in value.split(",") if (tag := part.strip(OWS))]


def _weak_match(value: str, etag: str) -> bool:
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in _etags(value))


def conditional_status(request: Request, entry: FileEntry) -> int:
    """RFC 9110 §13.2.2 order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since."""
    headers = request.headers
    mtime_s = entry.mtime_ns // 1_000_000_000
    if_match = headers.get("if-match")
    if if_match is not None:
        if not any(tag in ("*", entry.etag) for tag in _etags(if_match)):
            return 412
    else:
        since = headers.get("if-unmodified-since")
        date = None if since is None else parse_http_date(since)
        if date is not None and mtime_s > date:
            return 412
    if_none = headers.get("if-none-match")
    if if_none is not None:
        return 304 if _weak_match(if_none, entry.etag) else 200
    modified = headers.get("if-modified-since")
    date = None if modified is None else parse_http_date(modified)
    if date is not None and mtime_s <= date:
        return 304
    return 200


def _if_range_ok(value: str | None, entry: FileEntry) -> bool:
    if value is None:
        return True
    value = value.strip(OWS)
    if value.startswith(('"', "W/")):
        return value == entry.etag
    return parse_http_date(value) == entry.mtime_ns // 1_000_000_000 and value == entry.last_modified


def byte_range(value: str, size: int) -> tuple[int, int] | str:
    """One `bytes=` range as (first, last) inclusive, or IGNORE (invalid/multiple) or UNSATISFIABLE."""
    unit, sep, spec = value.partition("=")
    parts = [part for part in spec.split(",") if part.strip(OWS)]
    if unit.strip(OWS).lower() != "bytes" or not sep or len(parts) != 1:
        return IGNORE
    first_text, dash, last_text = (text.strip(OWS) for text in parts[0].partition("-"))
    first = parse_decimal(first_text) if first_text else None
    last = parse_decimal(last_text) if last_text else None
    if not dash or (first is None) != (not first_text) or (last is None) != (not last_text):
        return IGNORE  # not ASCII digits, or more than 18 of them
    if first is not None:
        if last is not None and last < first:
            return IGNORE
        end = size - 1 if last is None else last
        if first >= size:
            return UNSATISFIABLE
        return first, min(end, size - 1)
    if last is None:
        return IGNORE
    suffix = last
    if suffix == 0 or size == 0:
        return UNSATISFIABLE
    return max(0, size - suffix), size - 1
