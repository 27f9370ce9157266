"""RFC 9111 §4.3.5: a 200 response to HEAD updates or invalidates the stored GET responses it could
stand for. Pure: says which stored entries to refresh with which fields and which to drop."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.http1.headers import Headers

from ..numbers import parse_uint
from .cookies import DEFAULT_RULES, CookieRules
from .entry import Entry
from .validation import refreshed_fields
from .vary import matches


def head_matches(entry: Entry, head: Headers) -> bool:
    """Every validator the HEAD response carries equals the stored one, and so does its Content-Length."""
    for name in ("etag", "last-modified"):
        received = head.get(name)
        if received is not None and received.strip() != (entry.headers.get(name) or "").strip():
            return False
    length = head.get("content-length")
    return length is None or parse_uint(length.strip()) == len(entry.body)


def head_effects(entries: Sequence[Entry], request_headers: Headers, head: Headers,
                 targets: Sequence[str] = (), cookies: CookieRules = DEFAULT_RULES
                 ) -> tuple[list[tuple[Entry, Headers]], list[Entry]]:
    """(entries to update with merged fields, entries to invalidate) for a 200 response to HEAD. The merged
    fields are what storage keeps (`validation.refreshed_fields`); an entry the update makes unstorable
    (a HEAD response that sets a cookie, under `--set-cookie pass`) is invalidated."""
    updates: list[tuple[Entry, Headers]] = []
    drops: list[Entry] = []
    for entry in entries:
        if not matches(entry.vary, request_headers):
            continue
        kept = refreshed_fields(entry.headers, head, targets, cookies)[1] \
            if entry.status == 200 and head_matches(entry, head) else None
        if kept is not None:
            updates.append((entry, kept))
        else:
            drops.append(entry)
    return updates, drops
