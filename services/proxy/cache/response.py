"""The response side of RFC 9111 (the counterpart of `policy.decide`). Pure: `now` passed in.

`after_upstream` is given the stored entry the request was decided against (the one being revalidated, or
the stale one a miss would replace), the request, what the upstream did (a response head, or `None` when
it failed: unreachable, timed out, or closed the connection before a head) and `now`, and says what to do:

| upstream                    | stored entry usable stale (§4.2.4, RFC 5861) | → Next        |
|-----------------------------|-----------------------------------------------|---------------|
| failed                      | yes                                           | SERVE_STALE   |
| failed                      | no / none                                     | FAIL          |
| 304 to our revalidation     | (entry present)                               | REFRESH (§4.3.4) |
| 500, 502, 503, 504          | yes                                           | SERVE_STALE   |
| anything else, storable §3  | —                                             | STORE         |
| anything else               | —                                             | PASS          |

"Usable stale" (`stale_on_error`): never against `must-revalidate`, `proxy-revalidate`, `s-maxage`,
`no-cache` in the response, or `no-cache`/`no-store` in the request; within `stale-if-error` when the
response or request gives one, else within the configured `--stale-on-error` window (0: never).
1xx interim responses never reach this function: the exchange forwards them and never stores them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from services.common.http1.headers import Headers

from .cookies import DEFAULT_RULES, CookieRules
from .directives import Directives
from .entry import Entry
from .storage import may_store
from .targeted import response_directives

ERROR_STATUSES = frozenset({500, 502, 503, 504})  # RFC 5861 §4: "an error"


class Next(enum.Enum):
    STORE = "STORE"              # forward the response to the client and store it
    PASS = "PASS"                # forward it, do not store
    REFRESH = "REFRESH"          # 304 to our conditional request: update the stored entry, serve it
    SERVE_STALE = "SERVE_STALE"  # the origin failed: serve the stored entry, stale
    FAIL = "FAIL"                # the origin failed and nothing may be served instead: 502/504


def _forbids_stale(entry: Entry, req: Directives) -> bool:
    cc = entry.cc
    no_cache = "no-cache" in cc and not (cc.get("no-cache") or "").strip()
    return (no_cache or "must-revalidate" in cc or "proxy-revalidate" in cc or "s-maxage" in cc
            or "no-cache" in req or "no-store" in req)


def stale_on_error(entry: Entry, req: Directives, now: float, default_s: float) -> bool:
    """May `entry` be served stale because the origin failed? (RFC 9111 §4.2.4, RFC 5861 §4) `default_s`:
    the window when no stale-if-error is given (`--stale-on-error`)."""
    if _forbids_stale(entry, req):
        return False
    staleness = entry.age_s(now) - entry.lifetime_s
    windows = [entry.cc.seconds("stale-if-error"), req.seconds("stale-if-error")]
    if all(w is None for w in windows):
        windows = [int(default_s)] if default_s > 0 else []
    return any(w is not None and w >= 0 and staleness <= w for w in windows)


def after_upstream(entry: Entry | None, method: str, request_headers: Headers, req: Directives,
                   status: int | None, response_headers: Headers | None, now: float, *,
                   stale_on_error_s: float, targets: Sequence[str] = (),
                   revalidating: bool = False, cookies: CookieRules = DEFAULT_RULES) -> Next:
    """What to do with the upstream's answer (`status` None: the upstream failed). See the module table.

    `revalidating`: the request sent upstream carried the entry's validators (so a 304 refreshes it)."""
    stale_ok = entry is not None and stale_on_error(entry, req, now, stale_on_error_s)
    if status is None or response_headers is None:
        return Next.SERVE_STALE if stale_ok else Next.FAIL
    if revalidating and entry is not None and status == 304:
        return Next.REFRESH
    if status in ERROR_STATUSES and stale_ok:
        return Next.SERVE_STALE
    resp_cc = response_directives(response_headers, targets)
    if method == "GET" and may_store(method, request_headers, req, status, response_headers, resp_cc,
                                     cookies):
        return Next.STORE
    return Next.PASS
