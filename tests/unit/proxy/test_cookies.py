"""Cookies and the shared cache (issue 25): the pure rules (`cache/cookies.py` and where storage, 304 and
HEAD updates use them) as tables, then two clients through the request cycle with a fake upstream.

Each two-client case is what a user would notice: the second client must never receive the first one's
`Set-Cookie` unless `--set-cookie store` (RFC 9111 §7.3 as written) is chosen."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.common.http1 import Headers
from services.proxy.cache.cookies import (
    CookieRequests,
    CookieRules,
    SetCookie,
    listed_fields,
    withheld_fields,
)
from services.proxy.cache.directives import parse_cache_control
from services.proxy.cache.head import head_effects
from services.proxy.cache.policy import request_directives
from services.proxy.cache.storage import may_store, stored_fields
from services.proxy.cache.validation import refreshed_fields
from services.proxy.cli import config_from, parse_args
from services.proxy.fast import FastHeads

from .fakes import T0, Clock, FakePool, converse, make_app, reply, store
from .test_policy import entry, hdrs

PASS, STRIP, STORE = (CookieRules(set_cookie=mode) for mode in SetCookie)
BYPASS = CookieRules(requests=CookieRequests.BYPASS)
COOKIE = ("Set-Cookie", "session=alice")


def storable(resp: list[tuple[str, str]], rules: CookieRules, req: Sequence[tuple[str, str]] = ()) -> bool:
    rq, rs = hdrs(*req), hdrs(*resp)
    return may_store("GET", rq, request_directives(rq, rules), 200, rs,
                     parse_cache_control(rs.get_all("cache-control")), rules)


@pytest.mark.parametrize(("resp", "stored_in"), [
    ([("Cache-Control", "public, max-age=60"), COOKIE], {"strip", "store"}),
    ([("Cache-Control", "s-maxage=60"), COOKIE], {"strip", "store"}),
    ([("Cache-Control", "max-age=60"), COOKIE, COOKIE], {"strip", "store"}),
    ([("Expires", "Thu, 01 Jan 2099 00:00:00 GMT"), ("set-cookie", "a=1")], {"strip", "store"}),
    # Surrogate-Control would skip the later rules: the cookie rule comes first (like Varnish's builtin VCL)
    ([("Surrogate-Control", "max-age=60"), COOKIE], {"strip", "store"}),
    # the origin names the field: the rest may be shared, in every mode
    ([("Cache-Control", 'max-age=60, no-cache="Set-Cookie"'), COOKIE], {"pass", "strip", "store"}),
    ([("Cache-Control", 'max-age=60, no-cache="X-A, set-cookie"'), COOKIE], {"pass", "strip", "store"}),
    # other rules still apply
    ([("Cache-Control", "private, max-age=60"), COOKIE], set()),
    ([("Cache-Control", "no-store"), COOKIE], set()),
    ([("Cache-Control", "max-age=60")], {"pass", "strip", "store"}),
    ([("Cache-Control", "max-age=60"), ("Set-Cookie2", "a=1")], {"pass", "strip", "store"}),
])
def test_may_store_a_response_that_sets_a_cookie(resp: list[tuple[str, str]], stored_in: set[str]) -> None:
    assert {rules.set_cookie.value for rules in (PASS, STRIP, STORE) if storable(resp, rules)} == stored_in


@pytest.mark.parametrize(("resp", "rules", "kept"), [
    ([("Cache-Control", "max-age=60"), COOKIE, ("X", "1")], STRIP, ["cache-control", "x"]),
    ([("Cache-Control", "max-age=60"), COOKIE, ("X", "1")], STORE, ["cache-control", "set-cookie", "x"]),
    ([("Cache-Control", 'max-age=60, no-cache="Set-Cookie"'), COOKIE], STORE, ["cache-control"]),
    ([("Cache-Control", 'max-age=60, no-cache="Set-Cookie"'), COOKIE], PASS, ["cache-control"]),
    # §5.2.2.4, any field: never replayed from storage
    ([("Cache-Control", 'no-cache="a, B", max-age=60'), ("A", "1"), ("b", "2"), ("C", "3")], STORE,
     ["c", "cache-control"]),
    ([("Cache-Control", "no-cache, max-age=60"), ("A", "1")], STORE, ["a", "cache-control"]),
])
def test_stored_fields(resp: list[tuple[str, str]], rules: CookieRules, kept: list[str]) -> None:
    headers = hdrs(*resp)
    cc = parse_cache_control(headers.get_all("cache-control"))
    assert sorted(name.lower() for name, _ in stored_fields(headers, cc, rules).items()) == kept


def test_listed_and_withheld_fields() -> None:
    cc = parse_cache_control(['no-cache="A,  b", private="X"'])
    assert listed_fields(cc, "no-cache") == {"a", "b"} and listed_fields(cc, "private") == {"x"}
    assert listed_fields(parse_cache_control(["no-cache"]), "no-cache") == frozenset()
    assert withheld_fields(cc, STORE) == {"a", "b"} and withheld_fields(cc, PASS) == {"a", "b", "set-cookie"}


@pytest.mark.parametrize(("rules", "kept"), [(PASS, None), (STRIP, "absent"), (STORE, "session=bob")])
def test_a_304_that_sets_a_cookie_gives_it_to_its_client_only(rules: CookieRules, kept: str | None) -> None:
    stored = hdrs(("Cache-Control", "max-age=1"), ("ETag", '"v"'))
    served, storage = refreshed_fields(stored, hdrs(("Set-Cookie", "session=bob")), cookies=rules)
    assert served.get("set-cookie") == "session=bob"
    assert (None if storage is None else storage.get("set-cookie", "absent")) == kept


def test_a_head_response_that_sets_a_cookie_invalidates_under_pass_and_is_withheld_otherwise() -> None:
    stored = entry(("Cache-Control", "max-age=60"), ("ETag", '"v"'))
    head = hdrs(("ETag", '"v"'), ("X-New", "1"), COOKIE)
    assert head_effects([stored], Headers(), head, cookies=PASS) == ([], [stored])
    [(updated, fields)], drops = head_effects([stored], Headers(), head, cookies=STRIP)
    assert updated is stored and not drops and fields.get("x-new") == "1" and "set-cookie" not in fields
    [(_, fields)], _ = head_effects([stored], Headers(), head, cookies=STORE)
    assert fields.get("set-cookie") == "session=alice"


@pytest.mark.parametrize(("req", "rules", "no_store"), [
    ([("Cookie", "a=1")], CookieRules(), False),
    ([("Cookie", "a=1")], BYPASS, True),
    ([("Cookie", "a=1"), ("Cache-Control", "max-age=5")], BYPASS, True),
    ([("Cache-Control", "max-age=5")], BYPASS, False),
    ([("Pragma", "no-cache"), ("Cookie", "a=1")], BYPASS, True),
])
def test_bypassed_requests_are_no_store(req: list[tuple[str, str]], rules: CookieRules,
                                        no_store: bool) -> None:
    cc = request_directives(hdrs(*req), rules)
    assert ("no-store" in cc) is no_store
    assert cc.seconds("max-age") == (5 if ("Cache-Control", "max-age=5") in req else None)
    assert ("no-cache" in cc) is (("Pragma", "no-cache") in req)


def test_fast_path_leaves_cookie_heads_to_the_full_path_only_when_they_bypass() -> None:
    head = b"GET /a HTTP/1.1\r\nHost: t\r\nCookie: a=1\r\n\r\n"
    assert FastHeads(make_app().config.limits).classify(head) == ("/a", False)
    assert FastHeads(make_app().config.limits, frozenset({"cookie"})).classify(head) is None


def test_flags_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config_from(parse_args([])).cookies == CookieRules(SetCookie.PASS, CookieRequests.CACHE)
    args = parse_args(["--set-cookie", "STORE", "--cookie-requests", "bypass"])
    assert config_from(args).cookies == CookieRules(SetCookie.STORE, CookieRequests.BYPASS)
    monkeypatch.setenv("PROXY_SET_COOKIE", "strip")
    assert config_from(parse_args([])).cookies.set_cookie is SetCookie.STRIP
    with pytest.raises(SystemExit):
        parse_args(["--set-cookie", "keep"])


# -- two clients through the request cycle (fake upstream: each reply sets that client's own cookie) ------

def field(raw: bytes, name: bytes) -> bytes | None:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.lower() == name.lower():
            return value.strip()
    return None


def two_clients(cache_control: str, rules: CookieRules, *, second_cookie: bytes = b"") -> list[bytes]:
    """Alice then Bob GET /a; the origin answers each with its own session cookie."""
    async def body() -> list[bytes]:
        replies = [reply(200, [("Cache-Control", cache_control), ("Set-Cookie", f"session={who}")], b"page")
                   for who in ("alice", "bob")]
        app = make_app(FakePool(replies), Clock(), cookies=rules)
        first = (await converse(app, [b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"]))[0]
        second = (await converse(app, [b"GET /a HTTP/1.1\r\nHost: t\r\n" + second_cookie + b"\r\n"]))[0]
        return [first, second]
    return asyncio.run(body())


@pytest.mark.parametrize("cache_control", ["public, max-age=60", "s-maxage=60", "max-age=60"])
@pytest.mark.parametrize(("rules", "second"), [
    (PASS, (b"MISS", b"session=bob")),     # not stored: Bob gets his own answer and cookie
    (STRIP, (b"HIT", None)),               # stored without the field: a hit with no cookie
    (STORE, (b"HIT", b"session=alice")),   # RFC 9111 §7.3 as written: Alice's cookie replayed
])
def test_second_client_never_sees_the_first_clients_cookie_unless_store(
        cache_control: str, rules: CookieRules, second: tuple[bytes, bytes | None]) -> None:
    first, bob = two_clients(cache_control, rules)
    assert (field(first, b"x-cache"), field(first, b"set-cookie")) == (b"MISS", b"session=alice")
    assert (field(bob, b"x-cache"), field(bob, b"set-cookie")) == second


@pytest.mark.parametrize("rules", [PASS, STRIP, STORE])
def test_no_cache_set_cookie_is_stored_without_the_cookie_in_every_mode(rules: CookieRules) -> None:
    first, bob = two_clients('max-age=60, no-cache="Set-Cookie"', rules)
    assert field(first, b"set-cookie") == b"session=alice"
    assert (field(bob, b"x-cache"), field(bob, b"set-cookie")) == (b"HIT", None)


@pytest.mark.parametrize(("rules", "expected"), [(CookieRules(), b"HIT"), (BYPASS, b"MISS")])
def test_requests_with_a_cookie(rules: CookieRules, expected: bytes) -> None:
    """Default: served from the cache like any request; bypass: forwarded and not stored (Varnish)."""
    async def body() -> None:
        pool = FakePool([reply(200, [("Cache-Control", "max-age=60")], b"fresh")] * 2)
        app = make_app(pool, Clock(), cookies=rules)
        store(app, "/a", [("Cache-Control", "max-age=60")], b"cached")
        for chunk in (b"GET /a HTTP/1.1\r\nHost: t\r\nCookie: a=1\r\n\r\n",  # full path and fast path
                      b"GET /a HTTP/1.1\r\nHost: t\r\nCookie: a=1\r\nAccept: */*\r\n\r\n"):
            raw = (await converse(app, [chunk]))[0]
            assert field(raw, b"x-cache") == expected
            assert raw.endswith(b"cached" if expected == b"HIT" else b"fresh")
        assert len(pool.sent) == (0 if expected == b"HIT" else 2)
        plain = (await converse(app, [b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"]))[0]
        assert field(plain, b"x-cache") == b"HIT" and plain.endswith(b"cached")  # bypass stored nothing
    asyncio.run(body())


@pytest.mark.parametrize(("rules", "third"), [(PASS, b"MISS"), (STRIP, b"HIT"), (STORE, b"HIT")])
def test_revalidation_304_with_a_cookie(rules: CookieRules, third: bytes) -> None:
    """The client whose request revalidated gets the 304's cookie; the next client never does (unless
    store); under pass the entry, which would now set a cookie, leaves the cache."""
    async def body() -> None:
        pool = FakePool([reply(304, [("Cache-Control", "max-age=60"), ("Set-Cookie", "session=bob")]),
                         reply(200, [("Cache-Control", "max-age=60")], b"new")])
        app = make_app(pool, Clock(), cookies=rules)
        store(app, "/a", [("Cache-Control", "max-age=1"), ("ETag", '"v"')], b"old", at=T0 - 50)
        bob = (await converse(app, [b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n"]))[0]
        assert (field(bob, b"x-cache"), field(bob, b"set-cookie")) == (b"REVALIDATED", b"session=bob")
        carol = (await converse(app, [b"GET /a HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n"]))[0]
        assert field(carol, b"x-cache") == third
        assert field(carol, b"set-cookie") == (b"session=bob" if rules is STORE else None)
    asyncio.run(body())
