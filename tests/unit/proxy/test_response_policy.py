"""The response side of RFC 9111 (`cache.response.after_upstream`), RFC 9213 targeted fields, and what an
invalid HTTP-date means in each field. Table-driven, pure."""

from __future__ import annotations

import pytest

from services.common.http1 import Headers, http_date
from services.proxy.cache.age import freshness_lifetime
from services.proxy.cache.directives import parse_cache_control
from services.proxy.cache.entry import Entry, make_entry
from services.proxy.cache.policy import Action, decide
from services.proxy.cache.response import Next, after_upstream, stale_on_error
from services.proxy.cache.targeted import parse_dictionary, response_directives
from services.proxy.cache.validation import conditional_headers, not_modified_for
from services.proxy.job import ProxyConfig

T0 = 1_700_000_000.0
WINDOW = ProxyConfig().stale_on_error_s  # the default `--stale-on-error`
CDN = ("CDN-Cache-Control",)
NO_REQ = parse_cache_control([])


def entry(*pairs: tuple[str, str], t: float = T0, targets: tuple[str, ...] = ()) -> Entry:
    headers = Headers([("Date", http_date(t)), *pairs])
    return make_entry("/k", 200, "OK", headers, b"body", Headers(), t, t, targets=targets)


STALE = entry(("Cache-Control", "max-age=10"), t=T0 - 100)               # 90 s stale, no validator
STALE_MR = entry(("Cache-Control", "max-age=10, must-revalidate"), t=T0 - 100)
STALE_PR = entry(("Cache-Control", "max-age=10, proxy-revalidate"), t=T0 - 100)
STALE_SMAX = entry(("Cache-Control", "s-maxage=10"), t=T0 - 100)
STALE_NC = entry(("Cache-Control", "no-cache"), ("ETag", '"e"'), t=T0 - 100)
STALE_SIE = entry(("Cache-Control", "max-age=10, stale-if-error=30"), t=T0 - 100)  # 90 s > 30 s window
OK = Headers([("Cache-Control", "max-age=60")])


@pytest.mark.parametrize(("stored", "status", "fields", "revalidating", "window", "expected"), [
    # the origin failed (unreachable, timed out, closed before a head): RFC 9111 §4.2.4
    (STALE, None, None, False, 86400, Next.SERVE_STALE),
    (STALE, None, None, False, 60, Next.FAIL),            # 90 s stale > the --stale-on-error window
    (STALE, None, None, False, 0, Next.FAIL),             # --stale-on-error 0: never
    (None, None, None, False, 86400, Next.FAIL),
    (STALE_MR, None, None, False, 86400, Next.FAIL),      # must-revalidate forbids stale
    (STALE_PR, None, None, False, 86400, Next.FAIL),      # proxy-revalidate (shared cache)
    (STALE_SMAX, None, None, False, 86400, Next.FAIL),    # s-maxage implies proxy-revalidate
    (STALE_NC, None, None, True, 86400, Next.FAIL),       # no-cache: never without validation
    (STALE_SIE, None, None, False, 86400, Next.FAIL),     # stale-if-error given: its window, not ours
    # error responses: RFC 5861 §4 (500, 502, 503, 504 only)
    (STALE, 503, Headers(), False, 86400, Next.SERVE_STALE),
    (STALE, 501, Headers(), False, 86400, Next.PASS),
    (STALE_MR, 500, Headers(), False, 86400, Next.PASS),
    # a 304 refreshes only the entry whose validators were sent (§4.3.4)
    (STALE_NC, 304, Headers(), True, 86400, Next.REFRESH),
    (STALE, 304, Headers(), False, 86400, Next.PASS),     # the client's own conditional: passed on
    # storage (§3)
    (None, 200, OK, False, 86400, Next.STORE),
    (None, 200, Headers([("Cache-Control", "no-store")]), False, 86400, Next.PASS),
    (None, 200, Headers([("Cache-Control", "private, max-age=60")]), False, 86400, Next.PASS),
    (None, 206, OK, False, 86400, Next.PASS),
])
def test_after_upstream(stored: Entry | None, status: int | None, fields: Headers | None, revalidating: bool,
                        window: float, expected: Next) -> None:
    got = after_upstream(stored, "GET", Headers(), NO_REQ, status, fields, T0, stale_on_error_s=window,
                         revalidating=revalidating)
    assert got is expected


def test_head_and_other_methods_are_never_stored() -> None:
    assert after_upstream(None, "HEAD", Headers(), NO_REQ, 200, OK, T0, stale_on_error_s=WINDOW) is Next.PASS
    assert after_upstream(None, "POST", Headers(), NO_REQ, 200, OK, T0, stale_on_error_s=WINDOW) is Next.PASS


@pytest.mark.parametrize("request_cc", ["no-cache", "no-store"])
def test_request_no_cache_or_no_store_forbids_stale_on_error(request_cc: str) -> None:
    assert not stale_on_error(STALE, parse_cache_control([request_cc]), T0, WINDOW)
    assert stale_on_error(STALE, parse_cache_control(["max-age=5"]), T0, WINDOW)


# -- RFC 9213: CDN-Cache-Control ----------------------------------------------------------------------
@pytest.mark.parametrize(("fields", "stored", "lifetime"), [
    ([("CDN-Cache-Control", "max-age=3600")], True, 3600),
    ([("CDN-Cache-Control", "max-age=99999999999")], True, 2**31),
    ([("CDN-Cache-Control", "foobar, max-age=3600")], True, 3600),               # extension directive
    ([("Cache-Control", "max-age=1"), ("CDN-Cache-Control", "max-age=3600")], True, 3600),  # §2.1
    ([("Cache-Control", "max-age=3600"), ("CDN-Cache-Control", "max-age=1")], True, 1),
    ([("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=100")], True, 100),
    ([("Cache-Control", "max-age=100"), ("CDN-Cache-Control", "no-store")], False, 0),
    ([("Cache-Control", "max-age=100"), ("CDN-Cache-Control", "private")], False, 0),
    ([("CDN-Cache-Control", "max-age=0"), ("Expires", http_date(T0 + 100))], True, 0),
    ([("CDN-Cache-Control", "max-age=3600"), ("Expires", "0")], True, 3600),
    # not a valid Structured Field Dictionary: the field is ignored, Cache-Control applies (§2.1)
    ([("Cache-Control", "max-age=1"), ("CDN-Cache-Control", "max-age =100")], True, 1),
    ([("Cache-Control", "max-age=1"), ("CDN-Cache-Control", "max-age= 100")], True, 1),
    ([("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=10000, &&&&&")], False, 0),
    # a directive of the wrong type is ignored on its own
    ([("Cache-Control", "no-store"), ("CDN-Cache-Control", 'max-age="10000"')], False, 0),
])
def test_cdn_cache_control_over_cache_control(fields: list[tuple[str, str]], stored: bool,
                                              lifetime: float) -> None:
    headers = Headers([("Date", http_date(T0)), *fields])
    got = after_upstream(None, "GET", Headers(), NO_REQ, 200, headers, T0, stale_on_error_s=WINDOW,
                         targets=CDN)
    assert (got is Next.STORE) is stored
    if stored:
        cc = response_directives(headers, CDN)
        assert freshness_lifetime(200, headers, cc, T0) == lifetime


def test_cdn_no_cache_forces_revalidation_and_forward_mode_ignores_the_field() -> None:
    fields = (("CDN-Cache-Control", "no-cache"), ("Cache-Control", "max-age=10000"), ("ETag", '"e"'))
    assert decide(entry(*fields, targets=CDN), NO_REQ, T0 + 1).action is Action.REVALIDATE
    assert decide(entry(*fields, targets=()), NO_REQ, T0 + 1).action is Action.HIT  # no target list


def test_first_valid_targeted_field_of_the_list_wins() -> None:
    headers = Headers([("A-Cache-Control", "max-age=5 x"), ("B-Cache-Control", "max-age=7"),
                       ("CDN-Cache-Control", "max-age=9")])
    assert response_directives(headers, ("A-Cache-Control", "B-Cache-Control", "CDN-Cache-Control")
                               ).seconds("max-age") == 7


@pytest.mark.parametrize(("text", "valid"), [
    ("a, b=1, c=?0, d=\"x\\\"y\", e=tok/1:2, f=:aGk=:, g=1.5, h=(1 2);p;q=1", True),
    ("MaX-aGe=3600", False), ("a,", False), (",a", False), ("a=", False), ("a=\"x", False),
    ("a=1 b", False), ("a=1234567890123456", False), ("", True),
])
def test_structured_field_dictionary(text: str, valid: bool) -> None:
    assert (parse_dictionary(text) is not None) is valid


# -- what an invalid HTTP-date means in each field ------------------------------------------------------
def test_invalid_expires_means_already_expired() -> None:
    """RFC 9111 §5.3."""
    assert entry(("Expires", "Thu, 18 Aug 2050 02:01:18 UTC")).lifetime_s == 0
    assert entry(("Expires", "Thu, 18 Aug 2050 02:01:18 GMT")).lifetime_s > 0


def test_invalid_date_means_the_receipt_time() -> None:
    """RFC 9110 §6.6.1: without a valid Date the recipient uses the time it received the message."""
    stored = make_entry("/k", 200, "OK", Headers([("Date", "yesterday"), ("Cache-Control", "max-age=60")]),
                        b"", Headers(), T0, T0)
    assert stored.initial_age_s == 0 and decide(stored, NO_REQ, T0 + 30).action is Action.HIT


def test_invalid_last_modified_is_no_validator_and_gives_no_heuristic() -> None:
    """RFC 9111 §4.2.2 needs a Last-Modified time; §4.3.1 sends it only as a valid If-Modified-Since."""
    bad = entry(("Last-Modified", "Thu, 18 Aug 2000 02:01:18 UTC"))
    good = entry(("Last-Modified", http_date(T0 - 86400 * 10)))
    assert bad.lifetime_s == 0 and conditional_headers(bad) == []
    assert decide(bad, NO_REQ, T0 + 1).action is Action.MISS
    assert good.lifetime_s == 86400 and conditional_headers(good)[0][0] == "If-Modified-Since"


@pytest.mark.parametrize(("ims", "expected"), [
    ([http_date(T0)], True),
    (["Thu, 18 Aug 2050 02:01:18 UTC"], False),           # not an HTTP-date: ignored (RFC 9110 §13.1.3)
    ([http_date(T0), http_date(T0)], False),              # more than one member: ignored
])
def test_invalid_if_modified_since_is_ignored(ims: list[str], expected: bool) -> None:
    stored = entry(("Last-Modified", http_date(T0 - 60)), ("Cache-Control", "max-age=60"))
    assert not_modified_for(stored, Headers([("If-Modified-Since", v) for v in ims])) is expected
