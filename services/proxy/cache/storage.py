"""Storage rules of a shared cache (RFC 9111 §3) and what is kept of a response (§3.1). Pure."""

from __future__ import annotations

from services.common.http1.headers import Headers

from .age import HEURISTIC_STATUSES, has_explicit_freshness, last_modified_value
from .cookies import DEFAULT_RULES, CookieRules, refuses_storing, withheld_fields
from .directives import Directives
from .surrogate import surrogate_directives

# Statuses whose caching semantics we implement (for `must-understand`); 206 is never stored.
UNDERSTOOD_STATUSES = frozenset({200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer",
                        "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"})
# Not replayed from storage: per-hop or recomputed on every hit.
NOT_STORED = HOP_BY_HOP | {"age", "x-cache", "proxy-authentication-info"}
# §3.2: never updated from a 304 (they describe the stored representation itself).
NOT_UPDATED = NOT_STORED | {"content-length", "content-encoding", "content-md5", "content-range", "etag"}
STORABLE_METHODS = frozenset({"GET"})


def connection_listed(headers: Headers) -> set[str]:
    return set(headers.get_tokens("connection"))


def hop_by_hop_names(headers: Headers) -> set[str]:
    return set(HOP_BY_HOP) | connection_listed(headers)


def strip_hop_by_hop(headers: Headers) -> Headers:
    """A copy without hop-by-hop fields (fixed list + those named in Connection), RFC 9110 §7.6.1."""
    drop = hop_by_hop_names(headers)
    return Headers([(n, v) for n, v in headers.items() if n.lower() not in drop])


def storable_headers(headers: Headers, withheld: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """§3.1: header fields kept with a stored response; `withheld`: lower-case names also left out."""
    drop = NOT_STORED | connection_listed(headers) | withheld
    return [(n, v) for n, v in headers.items() if n.lower() not in drop]


def stored_fields(headers: Headers, cc: Directives, cookies: CookieRules = DEFAULT_RULES) -> Headers:
    """The fields a response is stored with: no hop-by-hop ones, none listed in a qualified `no-cache`
    (§5.2.2.4), no `Set-Cookie` unless `--set-cookie store` (`cookies.withheld_fields`)."""
    return Headers(storable_headers(headers, withheld_fields(cc, cookies)))


def _no_cache_all(cc: Directives) -> bool:
    return "no-cache" in cc and not (cc.get("no-cache") or "").strip()


def may_store(method: str, req_headers: Headers, req_cc: Directives, status: int,
              resp_headers: Headers, resp_cc: Directives, cookies: CookieRules = DEFAULT_RULES) -> bool:
    """§3: may a shared cache store this response? Also no when it sets a cookie and `--set-cookie pass`
    (checked first: no Surrogate-Control or Cache-Control overrides it, as in Varnish's builtin VCL)."""
    if method not in STORABLE_METHODS or status < 200 or status in {206, 304}:
        return False
    if refuses_storing(resp_headers, resp_cc, cookies):
        return False
    if "must-understand" in resp_cc and status not in UNDERSTOOD_STATUSES:
        return False
    surrogate = surrogate_directives(resp_headers)
    if surrogate is not None and ("no-store" in surrogate or "max-age" in surrogate):
        return "no-store" not in surrogate and "no-store" not in req_cc
    understood = "must-understand" in resp_cc  # status checked above: no-store is then overridden
    if "no-store" in req_cc or ("no-store" in resp_cc and not understood) or "private" in resp_cc:
        return False
    if "*" in resp_headers.get_tokens("vary"):
        return False
    if "authorization" in req_headers and not (
            "public" in resp_cc or "s-maxage" in resp_cc or "must-revalidate" in resp_cc):
        return False
    if has_explicit_freshness(resp_headers, resp_cc) or "public" in resp_cc:
        return True
    has_validator = "etag" in resp_headers or last_modified_value(resp_headers) is not None
    if _no_cache_all(resp_cc):
        return has_validator
    return status in HEURISTIC_STATUSES and has_validator


def is_unsafe(method: str) -> bool:
    return method not in {"GET", "HEAD", "OPTIONS", "TRACE"}
