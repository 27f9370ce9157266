"""What to do with a request given the stored variants (RFC 9111 §4, RFC 5861). Pure: `now` passed in.

`decide` returns one `Decision`; the proxy carries it out (serve, revalidate, fetch, refuse). Like hishel's
states, but as one function of (request, stored entry, now) so each rule is a table-driven test.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from services.common.http1.headers import Headers

from .age import last_modified_value
from .cookies import DEFAULT_RULES, CookieRules, bypasses
from .directives import Directives, parse_cache_control
from .entry import Entry
from .vary import matches


class Action(enum.Enum):
    HIT = "HIT"                  # serve the stored response, fresh
    STALE = "STALE"              # serve stale (max-stale from the client)
    STALE_REVALIDATE = "SWR"     # serve stale now, revalidate in the background (stale-while-revalidate)
    REVALIDATE = "REVALIDATE"    # send a conditional request upstream
    MISS = "MISS"                # forward, maybe store
    ONLY_IF_CACHED = "GATEWAY"   # 504: client wants cache only and nothing usable is stored


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    entry: Entry | None = None


NO_DIRECTIVES = parse_cache_control([])  # a request without Cache-Control or Pragma


def request_directives(headers: Headers, cookies: CookieRules = DEFAULT_RULES) -> Directives:
    """The request's cache directives; a request that bypasses the cache for its cookie
    (`--cookie-requests bypass`) is given `no-store`: not answered from storage, response not stored,
    never collapsed onto another request, never served stale."""
    cc = parse_cache_control(headers.get_all("cache-control"))
    if "cache-control" not in headers and "no-cache" in headers.get_tokens("pragma"):
        cc = parse_cache_control(["no-cache"])  # RFC 9111 §5.4: Pragma only without Cache-Control
    if bypasses(headers, cookies) and "no-store" not in cc:
        return Directives({**cc.values, "no-store": None}, cc.duplicated)
    return cc


def select(entries: Sequence[Entry], request_headers: Headers) -> Entry | None:
    """§4.1: the most recent stored variant whose Vary-nominated fields match."""
    best: Entry | None = None
    for entry in entries:
        if not matches(entry.vary, request_headers):
            continue
        if best is None or entry.response_time >= best.response_time:
            best = entry
    return best


def has_validator(entry: Entry) -> bool:
    return "etag" in entry.headers or last_modified_value(entry.headers) is not None


def _must_revalidate_when_stale(entry: Entry) -> bool:
    cc = entry.cc
    return "must-revalidate" in cc or "proxy-revalidate" in cc or "s-maxage" in cc


def _unqualified(cc: Directives, name: str) -> bool:
    return name in cc and not (cc.get(name) or "").strip()


def _acceptable_fresh(entry: Entry, req: Directives, age: float) -> bool:
    if age >= entry.lifetime_s:
        return False
    max_age = req.seconds("max-age")
    if max_age is not None and (max_age < 0 or age > max_age):
        return False
    min_fresh = req.seconds("min-fresh")
    return min_fresh is None or entry.lifetime_s - age >= max(min_fresh, 0)


def _stale_action(entry: Entry, req: Directives, age: float) -> Action | None:
    """A way to serve the entry stale, or None (§4.2.4, RFC 5861 §3)."""
    if _must_revalidate_when_stale(entry):
        return None
    staleness = age - entry.lifetime_s
    max_age = req.seconds("max-age")
    if max_age is not None and age > max(max_age, 0):
        return None
    if "max-stale" in req:
        limit = req.get("max-stale")
        if limit is None or staleness <= max(req.seconds("max-stale") or 0, 0):
            return Action.STALE
    swr = entry.cc.seconds("stale-while-revalidate")
    if swr is not None and swr > 0 and staleness <= swr:
        return Action.STALE_REVALIDATE
    return None


def decide(entry: Entry | None, req: Directives, now: float) -> Decision:
    """§4: reuse, revalidate, or forward."""
    only_cached = "only-if-cached" in req
    if entry is None or "no-store" in req:
        return Decision(Action.ONLY_IF_CACHED if only_cached else Action.MISS)
    age = entry.age_s(now)
    forced = _unqualified(entry.cc, "no-cache") or "no-cache" in req
    if not forced:
        if _acceptable_fresh(entry, req, age):
            return Decision(Action.HIT, entry)
        stale = _stale_action(entry, req, age)
        if stale is not None:
            return Decision(stale, entry)
    if only_cached:
        return Decision(Action.ONLY_IF_CACHED)
    if has_validator(entry):
        return Decision(Action.REVALIDATE, entry)
    return Decision(Action.MISS, entry)


def hit_through(entry: Entry | None, req: Directives, end: float) -> bool:
    """Is `decide(entry, req, t)` a HIT at every instant t up to `end`? It is exactly when it is one at `end`.

    `decide` depends on time only through `entry.age_s(t)`, which never decreases as t grows, and each test a
    HIT passes bounds that age from above (the lifetime, §4.2; the request's max-age and min-fresh, §5.2.1),
    so the instants of a HIT are a prefix of time (property-tested). The fast path asks once, at the end of an
    Age second, and keeps the answer for the whole second (`services/proxy/hits.py`)."""
    return decide(entry, req, end).action is Action.HIT
