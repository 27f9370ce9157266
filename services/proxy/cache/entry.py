"""A stored response and the per-entry values computed once at store time (hit path does no parsing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.common.http1.headers import Headers

from .age import corrected_initial_age, freshness_lifetime
from .directives import Directives
from .targeted import response_directives
from .vary import vary_key

ENTRY_OVERHEAD_BYTES = 512  # bookkeeping charged per entry so many tiny objects are bounded too


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

    @property
    def size(self) -> int:
        return len(self.body) + len(self.head) + ENTRY_OVERHEAD_BYTES

    def age_s(self, now: float) -> float:
        return self.initial_age_s + max(0.0, now - self.response_time)


def make_entry(key: str, status: int, reason: str, headers: Headers, body: bytes,
               request_headers: Headers, request_time: float, response_time: float,
               received: Headers | None = None, targets: Sequence[str] = ()) -> Entry:
    """`headers` are the stored fields; `received` the response as it arrived (for Age and Date);
    `targets` the RFC 9213 targeted fields obeyed over Cache-Control."""
    cc = response_directives(headers, targets)
    return Entry(
        key=key, status=status, reason=reason, headers=headers, body=body,
        request_time=request_time, response_time=response_time,
        vary=vary_key(headers, request_headers), cc=cc,
        lifetime_s=freshness_lifetime(status, headers, cc, response_time),
        initial_age_s=corrected_initial_age(received or headers, request_time, response_time))


def refresh(entry: Entry, headers: Headers, request_time: float, response_time: float,
            received: Headers | None = None, targets: Sequence[str] = ()) -> Entry:
    """The entry with `headers` (already merged from a 304, which is `received`) and new times."""
    cc = response_directives(headers, targets)
    return Entry(
        key=entry.key, status=entry.status, reason=entry.reason, headers=headers, body=entry.body,
        request_time=request_time, response_time=response_time, vary=entry.vary, cc=cc,
        lifetime_s=freshness_lifetime(entry.status, headers, cc, response_time),
        initial_age_s=corrected_initial_age(received or headers, request_time, response_time))
