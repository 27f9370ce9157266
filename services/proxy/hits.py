"""The fast path's answer from one stored entry to a plain GET, rendered once per Age second.

Between two hits on the same entry only time changes, and the answer depends on time through two values
only: whether `decide` says HIT, and the Age field. So the head is rendered once, with the interval over
which both stay the same, and reused within it:

- Age: `respond.served_age_until` gives the instant the Age field next changes (checked with `served_age`).
- HIT: `policy.hit_through` asks `decide` at the last instant of that interval; a HIT then is a HIT at every
  earlier instant. When freshness ends inside the interval nothing is kept, so each hit of the entry's
  last fresh second asks `decide` again and the first stale request gets the full path's answer.

Nothing here decides freshness or formats a field: `decide` and `respond.served_head` do, as on the full
path (tests/unit/proxy/test_fast_path.py compares the bytes of both paths, tests/unit/proxy/test_hits.py
the boundary instants). The memo lives on the entry, so it goes when the entry is replaced or evicted.
"""

from __future__ import annotations

import math

from services.common.connection.heads import CLOSE

from . import respond
from .cache.entry import Entry, ServedHead
from .cache.policy import NO_DIRECTIVES, hit_through


def render(entry: Entry, now: float, close: bool) -> ServedHead | None:
    """The head for a plain GET served from `entry` at `now`, valid over [now, until); None unless a HIT.

    `until` is `now` (nothing to reuse) when freshness ends before the Age field next changes."""
    if not hit_through(entry, NO_DIRECTIVES, now):
        return None
    head = respond.served_head(entry, now, "HIT", CLOSE if close else b"")
    until = respond.served_age_until(entry, now)
    if until > now and not hit_through(entry, NO_DIRECTIVES, math.nextafter(until, -math.inf)):
        until = now
    return ServedHead(now, until, close, head)


def plain_hit(entry: Entry, now: float, close: bool) -> bytes | None:
    """The head answering a plain GET from `entry` at `now` (the memo's when still valid), or None when
    `decide` would not serve it (stale, no-cache...: the full path answers)."""
    memo = entry.served
    if memo is not None and memo.close is close and memo.start <= now < memo.until:
        return memo.head
    served = render(entry, now, close)
    if served is None:
        return None
    if served.until > now:
        entry.served = served
    return served.head
