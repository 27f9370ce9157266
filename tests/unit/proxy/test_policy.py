"""Table-driven tests of the pure cache policy: directives, Age, freshness, storage, decisions, Vary."""

from __future__ import annotations

import pytest

from services.common.http1 import Headers, http_date
from services.proxy.cache.age import age_value, corrected_initial_age, freshness_lifetime
from services.proxy.cache.directives import parse_cache_control
from services.proxy.cache.entry import Entry, make_entry
from services.proxy.cache.policy import Action, decide, request_directives, select
from services.proxy.cache.response import stale_on_error
from services.proxy.cache.storage import may_store, storable_headers
from services.proxy.cache.validation import merge_304, not_modified_for
from services.proxy.job import ProxyConfig

T0 = 1_700_000_000.0
WINDOW = ProxyConfig().stale_on_error_s  # the default `--stale-on-error`


def hdrs(*pairs: tuple[str, str]) -> Headers:
    return Headers(list(pairs))


def entry(*pairs: tuple[str, str], status: int = 200, t: float = T0, req: Headers | None = None) -> Entry:
    headers = hdrs(("Date", http_date(t)), *pairs)
    return make_entry("/k", status, "OK", headers, b"body", req or Headers(), t, t)


@pytest.mark.parametrize(("values", "name", "expected"), [
    (["max-age=60"], "max-age", 60),
    (['max-age="60"'], "max-age", 60),
    (["max-age=60, max-age=10"], "max-age", -1),
    (["max-age=abc"], "max-age", -1),
    (["MAX-AGE=5"], "max-age", 5),
    (['ext="max-age=3600", max-age=1'], "max-age", 1),
    (["max-age=99999999999"], "max-age", 2**31),
    (["no-cache"], "max-age", None),
])
def test_directive_seconds(values: list[str], name: str, expected: int | None) -> None:
    assert parse_cache_control(values).seconds(name) == expected


@pytest.mark.parametrize(("ages", "expected"), [  # RFC 9111 §5.1: first member of a list; invalid: ignored
    ([], 0), (["10"], 10), (["abc"], 0), (["-1"], 0), (["1.5"], 0), (["7200.0"], 0), (["1", "2"], 1),
    (["0, 0"], 0), (["0,7200"], 0), (["7200,0"], 7200), (["7200", "0"], 7200), (["0", "7200"], 0),
    ([" 5 "], 5), (["", "9"], 9), ([", 3"], 3),
])
def test_age_value(ages: list[str], expected: int) -> None:
    assert age_value(Headers([("Age", a) for a in ages])) == expected


def test_corrected_initial_age_uses_age_date_and_delay() -> None:
    headers = hdrs(("Date", http_date(T0 - 5)), ("Age", "10"))
    # apparent age 5+, corrected age value 10 + 2 (response delay): the larger wins
    assert corrected_initial_age(headers, T0 - 2, T0) == 12
    assert corrected_initial_age(hdrs(("Date", http_date(T0 - 50))), T0, T0) == 50


@pytest.mark.parametrize(("status", "pairs", "expected"), [
    (200, [("Cache-Control", "max-age=60, s-maxage=10")], 10),
    (200, [("Cache-Control", "max-age=60")], 60),
    (200, [("Expires", http_date(T0 + 100))], 100),
    (200, [("Expires", "garbage")], 0),
    (200, [("Cache-Control", "max-age=30"), ("Expires", http_date(T0 + 100))], 30),
    (200, [("Last-Modified", http_date(T0 - 1000))], 100),
    (302, [("Last-Modified", http_date(T0 - 1000))], 0),
    (200, [("Surrogate-Control", "max-age=5"), ("Cache-Control", "max-age=60")], 5),
])
def test_freshness_lifetime(status: int, pairs: list[tuple[str, str]], expected: float) -> None:
    headers = hdrs(("Date", http_date(T0)), *pairs)
    cc = parse_cache_control(headers.get_all("cache-control"))
    assert freshness_lifetime(status, headers, cc, T0) == pytest.approx(expected)


@pytest.mark.parametrize(("method", "req", "status", "resp", "expected"), [
    ("GET", [], 200, [("Cache-Control", "max-age=60")], True),
    ("POST", [], 200, [("Cache-Control", "max-age=60")], False),
    ("GET", [("Cache-Control", "no-store")], 200, [("Cache-Control", "max-age=60")], False),
    ("GET", [], 200, [("Cache-Control", "max-age=60, private")], False),
    ("GET", [], 200, [("Cache-Control", "no-store")], False),
    ("GET", [], 200, [], False),
    ("GET", [], 200, [("ETag", '"a"')], True),
    ("GET", [], 200, [("Cache-Control", "no-cache"), ("ETag", '"a"')], True),
    ("GET", [("Authorization", "x")], 200, [("Cache-Control", "max-age=60")], False),
    ("GET", [("Authorization", "x")], 200, [("Cache-Control", "public, max-age=60")], True),
    ("GET", [], 200, [("Cache-Control", "max-age=60"), ("Vary", "*")], False),
    ("GET", [], 206, [("Cache-Control", "max-age=60")], False),
    ("GET", [], 500, [("Cache-Control", "max-age=60")], True),
    ("GET", [], 599, [("Cache-Control", "max-age=60, must-understand")], False),
    ("GET", [], 200, [("Cache-Control", "no-store, must-understand, max-age=60")], True),
    ("GET", [], 200, [("Cache-Control", "no-store"), ("Surrogate-Control", "max-age=60")], True),
])
def test_may_store(method: str, req: list[tuple[str, str]], status: int, resp: list[tuple[str, str]],
                   expected: bool) -> None:
    rq, rs = Headers(req), Headers(resp)
    assert may_store(method, rq, request_directives(rq), status, rs,
                     parse_cache_control(rs.get_all("cache-control"))) is expected


def test_storable_headers_drop_hop_by_hop_and_connection_listed() -> None:
    kept = storable_headers(hdrs(("Connection", "x-a"), ("X-A", "1"), ("Keep-Alive", "t=1"), ("X-B", "2")))
    assert kept == [("X-B", "2")]


@pytest.mark.parametrize(("resp", "req", "after_s", "expected"), [
    ([("Cache-Control", "max-age=60")], [], 10, Action.HIT),
    ([("Cache-Control", "max-age=60")], [], 70, Action.MISS),
    ([("Cache-Control", "max-age=60"), ("ETag", '"a"')], [], 70, Action.REVALIDATE),
    ([("Cache-Control", "max-age=60, no-cache"), ("ETag", '"a"')], [], 1, Action.REVALIDATE),
    ([("Cache-Control", "max-age=60"), ("ETag", '"a"')], [("Cache-Control", "no-cache")], 1,
     Action.REVALIDATE),
    ([("Cache-Control", "max-age=60"), ("ETag", '"a"')], [("Pragma", "no-cache")], 1, Action.REVALIDATE),
    ([("Cache-Control", "max-age=60")], [("Cache-Control", "max-age=5")], 10, Action.MISS),
    ([("Cache-Control", "max-age=60")], [("Cache-Control", "min-fresh=55")], 10, Action.MISS),
    ([("Cache-Control", "max-age=60")], [("Cache-Control", "max-stale=20")], 70, Action.STALE),
    ([("Cache-Control", "max-age=60")], [("Cache-Control", "max-stale")], 7000, Action.STALE),
    ([("Cache-Control", "max-age=60, must-revalidate")], [("Cache-Control", "max-stale")], 70, Action.MISS),
    ([("Cache-Control", "max-age=60, stale-while-revalidate=30")], [], 80, Action.STALE_REVALIDATE),
    ([("Cache-Control", "max-age=60, stale-while-revalidate=30")], [], 100, Action.MISS),
    ([("Cache-Control", "max-age=60")], [("Cache-Control", "only-if-cached")], 70, Action.ONLY_IF_CACHED),
    ([("Cache-Control", "max-age=60")], [("Cache-Control", "only-if-cached")], 1, Action.HIT),
    ([("Cache-Control", "max-age=60"), ("Age", "100")], [], 0, Action.MISS),
])
def test_decide(resp: list[tuple[str, str]], req: list[tuple[str, str]], after_s: float,
                expected: Action) -> None:
    stored = entry(*resp)
    assert decide(stored, request_directives(Headers(req)), T0 + after_s).action is expected


def test_decide_without_entry() -> None:
    assert decide(None, request_directives(Headers()), T0).action is Action.MISS
    only = request_directives(hdrs(("Cache-Control", "only-if-cached")))
    assert decide(None, only, T0).action is Action.ONLY_IF_CACHED


def test_stale_if_error_windows() -> None:
    assert stale_on_error(entry(("Cache-Control", "max-age=1, stale-if-error=10")),
                                 request_directives(Headers()), T0 + 5, WINDOW)
    assert not stale_on_error(entry(("Cache-Control", "max-age=1, stale-if-error=10")),
                                     request_directives(Headers()), T0 + 50, WINDOW)
    assert not stale_on_error(entry(("Cache-Control", "max-age=1, must-revalidate")),
                                     request_directives(Headers()), T0 + 5, WINDOW)


def test_vary_selects_matching_variant() -> None:
    en = entry(("Vary", "Accept-Language"), req=hdrs(("Accept-Language", "en")))
    de = entry(("Vary", "Accept-Language"), req=hdrs(("Accept-Language", "de")))
    assert select([en, de], hdrs(("Accept-Language", "de"))) is de
    assert select([en, de], hdrs(("Accept-Language", "fr"))) is None
    assert select([en], Headers()) is None


def test_merge_304_updates_but_keeps_representation_fields() -> None:
    stored = hdrs(("Content-Type", "text/plain"), ("ETag", '"a"'), ("X-Test", "1"), ("Content-Length", "4"))
    update = hdrs(("X-Test", "2"), ("ETag", '"b"'), ("Content-Length", "0"), ("X-New", "n"))
    merged = merge_304(stored, update)
    assert merged.get("x-test") == "2" and merged.get("etag") == '"a"'
    assert merged.get("content-length") == "4" and merged.get("x-new") == "n"


@pytest.mark.parametrize(("req", "expected"), [
    ([("If-None-Match", '"a"')], True),
    ([("If-None-Match", 'W/"a"')], True),
    ([("If-None-Match", '"b", "a"')], True),
    ([("If-None-Match", '"b"')], False),
    ([("If-None-Match", "*")], True),
    ([("If-Modified-Since", http_date(T0))], True),
    ([("If-Modified-Since", http_date(T0 - 100))], False),
    ([], False),
])
def test_client_conditionals_against_stored(req: list[tuple[str, str]], expected: bool) -> None:
    stored = entry(("ETag", '"a"'), ("Last-Modified", http_date(T0 - 10)))
    assert not_modified_for(stored, Headers(req)) is expected
