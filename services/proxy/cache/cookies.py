"""Cookies and the shared cache: which responses that set a cookie are stored, which fields of a stored
response are never replayed, and which requests that carry a cookie use the cache at all. Pure.

RFC 9111 §7.3 lets a shared cache store a response with `Set-Cookie` and replay it ("can be (and often is)
used to satisfy subsequent requests"): one client's session cookie then reaches the next client. The
caches operators trust do not do that by default: Varnish's builtin VCL (`vcl_beresp_cookie`) makes such
a response uncacheable (hit-for-miss), and nginx's proxy cache does not store it unless told
`proxy_ignore_headers Set-Cookie`. Our default does the same — the response is forwarded, not stored —
because the body of a response that sets a cookie is often made for that client too (a login page, a
CSRF token matching the cookie), so storing the body without its cookie could still hand one client's
page to another or break the next client's session. `strip` stores it without its `Set-Cookie` fields
(the client of the miss still gets them); `store` is RFC 9111 as written.

An origin that names the field itself, `Cache-Control: no-cache="Set-Cookie"`, has said the rest of the
response may be shared: it is stored without the field in every mode (§5.2.2.4 forbids sending a field
listed there without revalidation; never replaying it satisfies that). The same holds for any field
listed in a qualified `no-cache`. (A qualified `private` still keeps the whole response out: the storage
rules treat every `private` as unqualified, which §5.2.2.7 allows.)

Requests carrying `Cookie`: served from the cache like any other by default (RFC 9111 has no rule for
them; nginx does the same, and a page that differs per cookie says so with `private` or `Vary: Cookie`,
which the proxy obeys). `bypass` does what Varnish's builtin `vcl_req_cookie` does (`return (pass)`):
the request is neither answered from the cache nor is its response stored, as if it carried
`Cache-Control: no-store`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from services.common.http1.headers import Headers

from .directives import Directives


class SetCookie(enum.Enum):
    """What is stored of a response that carries `Set-Cookie` (`--set-cookie`)."""

    PASS = "pass"    # forwarded, not stored (Varnish's builtin VCL, nginx's proxy_cache)
    STRIP = "strip"  # stored without its Set-Cookie fields; the client of the miss still gets them
    STORE = "store"  # stored and replayed like any other field (RFC 9111 §7.3 as written)


class CookieRequests(enum.Enum):
    """How requests that carry `Cookie` use the cache (`--cookie-requests`)."""

    CACHE = "cache"    # like any request (RFC 9111, nginx)
    BYPASS = "bypass"  # not answered from the cache, response not stored (Varnish's builtin VCL)


@dataclass(frozen=True, slots=True)
class CookieRules:
    set_cookie: SetCookie = SetCookie.PASS
    requests: CookieRequests = CookieRequests.CACHE


DEFAULT_RULES = CookieRules()


def listed_fields(cc: Directives, directive: str) -> frozenset[str]:
    """Lower-case field names listed in a qualified directive (`no-cache="a, b"`); empty when unqualified."""
    value = cc.get(directive) if directive in cc else None
    if not value:
        return frozenset()
    return frozenset(name.strip().lower() for name in value.split(",") if name.strip())


def withheld_fields(cc: Directives, rules: CookieRules) -> frozenset[str]:
    """Lower-case names of the fields a stored response is kept without (never replayed from storage)."""
    fields = listed_fields(cc, "no-cache")
    if rules.set_cookie is not SetCookie.STORE:
        fields |= {"set-cookie"}
    return fields


def refuses_storing(headers: Headers, cc: Directives, rules: CookieRules) -> bool:
    """Does the Set-Cookie rule alone keep this response out of the cache? (`pass`, unless the response
    lists `Set-Cookie` in a qualified no-cache)"""
    return (rules.set_cookie is SetCookie.PASS and "set-cookie" in headers
            and "set-cookie" not in listed_fields(cc, "no-cache"))


def bypasses(request_headers: Headers, rules: CookieRules) -> bool:
    """Does this request skip the cache (lookup and storing) because it carries a cookie?"""
    return rules.requests is CookieRequests.BYPASS and "cookie" in request_headers


def request_fields(rules: CookieRules) -> frozenset[str]:
    """Request fields these rules look at (the fast hit path leaves heads with them to the full path)."""
    return frozenset({"cookie"}) if rules.requests is CookieRequests.BYPASS else frozenset()
