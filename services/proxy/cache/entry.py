"""A stored response and the per-entry values computed once at store time (hit path does no parsing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.common.http1.headers import Headers

from .age import corrected_initial_age, freshness_lifetime
from .directives import Directives
from .targeted import response_directives
from .vary import vary_key

# What an entry really costs beyond its body and pre-encoded head, measured with tracemalloc by
# tests/unit/proxy/test_store_memory.py (which fails when these drift by more than 25 %): the Entry, its
# Directives, Vary key and store slots (ENTRY_OVERHEAD_BYTES), and per stored field a tuple, three str
# objects (name, value, lower-cased name) and two list slots (FIELD_OVERHEAD_BYTES + the field's text).
ENTRY_OVERHEAD_BYTES = 1700
FIELD_OVERHEAD_BYTES = 220


@dataclass(slots=True)
class ServedHead:
    """A head rendered from an entry for a plain GET, and the instants [start, until) at which the full
    path would render the same bytes and `decide` would say HIT (the fast path's memo, `proxy/hits.py`)."""

    start: float
    until: float
    close: bool  # rendered with `Connection: close`
    head: bytes


@dataclass(slots=True, eq=False)
class Entry:
    key: str
    status: int
    reason: str
    headers: Headers
    body: bytes
    request_time: float
    response_time: float
    vary: tuple[tuple[str, str], ...]
    cc: Directives
    lifetime_s: float
    initial_age_s: float
    head: bytes = b""  # status line + stored fields, without Age / X-Cache / final CRLF
    meta_bytes: int = ENTRY_OVERHEAD_BYTES  # memory besides body and head (`overhead_bytes`)
    # The fast path's memo, replaced at most once per Age second. Not charged in `size` (a size must not
    # change once stored; it is about `head` again once served, small beside ENTRY_OVERHEAD_BYTES).
    served: ServedHead | None = None

    @property
    def size(self) -> int:
        """Bytes charged against --cache-size: about what the entry really occupies in memory."""
        return len(self.body) + len(self.head) + self.meta_bytes

    def age_s(self, now: float) -> float:
        return self.initial_age_s + max(0.0, now - self.response_time)


def overhead_bytes(headers: Headers, vary: tuple[tuple[str, str], ...]) -> int:
    """Memory of an entry besides its body and head bytes (see ENTRY_OVERHEAD_BYTES)."""
    fields = sum(FIELD_OVERHEAD_BYTES + 2 * len(name) + len(value) for name, value in headers.items())
    return ENTRY_OVERHEAD_BYTES + fields + sum(100 + len(name) + len(value) for name, value in vary)


def make_entry(key: str, status: int, reason: str, headers: Headers, body: bytes,
               request_headers: Headers, request_time: float, response_time: float,
               received: Headers | None = None, targets: Sequence[str] = ()) -> Entry:
    """`headers` are the stored fields; `received` the response as it arrived (for Age and Date);
    `targets` the RFC 9213 targeted fields obeyed over Cache-Control."""
    cc = response_directives(headers, targets)
    vary = vary_key(headers, request_headers)
    return Entry(
        key=key, status=status, reason=reason, headers=headers, body=body,
        request_time=request_time, response_time=response_time, vary=vary, cc=cc,
        lifetime_s=freshness_lifetime(status, headers, cc, response_time),
        initial_age_s=corrected_initial_age(received or headers, request_time, response_time),
        meta_bytes=overhead_bytes(headers, vary))


def refresh(entry: Entry, headers: Headers, request_time: float, response_time: float,
            received: Headers | None = None, targets: Sequence[str] = ()) -> Entry:
    """The entry with `headers` (already merged from a 304, which is `received`) and new times."""
    cc = response_directives(headers, targets)
    return Entry(
        key=entry.key, status=entry.status, reason=entry.reason, headers=headers, body=entry.body,
        request_time=request_time, response_time=response_time, vary=entry.vary, cc=cc,
        lifetime_s=freshness_lifetime(entry.status, headers, cc, response_time),
        initial_age_s=corrected_initial_age(received or headers, request_time, response_time),
        meta_bytes=overhead_bytes(headers, entry.vary))
