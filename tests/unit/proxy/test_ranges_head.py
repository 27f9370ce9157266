"""Table-driven tests of Range plans from stored responses and of HEAD updates (RFC 9110 §14, 9111 §4.3.5)."""

from __future__ import annotations

import pytest

from services.common.http1 import Headers, http_date
from services.proxy.cache.entry import Entry, make_entry
from services.proxy.cache.head import head_effects, head_matches
from services.proxy.cache.ranges import UNSATISFIABLE, ByteRange, RangePlan, parse_range, plan_range

T0 = 1_700_000_000.0
LM = http_date(T0 - 3600)


@pytest.mark.parametrize(("value", "length", "expected"), [
    ("bytes=0-1", 11, ByteRange(0, 1)),
    ("bytes=1-", 11, ByteRange(1, 10)),
    ("bytes=-1", 11, ByteRange(10, 10)),
    ("bytes=-50", 11, ByteRange(0, 10)),
    ("bytes=5-500", 11, ByteRange(5, 10)),
    (" BYTES = 2-3 ", 11, ByteRange(2, 3)),
    ("bytes=11-", 11, UNSATISFIABLE),
    ("bytes=20-30", 11, UNSATISFIABLE),
    ("bytes=-0", 11, UNSATISFIABLE),
    ("bytes=0-", 0, UNSATISFIABLE),
    ("bytes=3-1", 11, None),
    ("bytes=0-1,3-4", 11, None),
    ("items=0-1", 11, None),
    ("bytes=a-b", 11, None),
    ("bytes=5", 11, None),
    ("bytes=-", 11, None),
])
def test_parse_range(value: str, length: int, expected: RangePlan) -> None:
    assert parse_range(value, length) == expected


STORED = Headers([("ETag", '"v1"'), ("Last-Modified", LM)])


@pytest.mark.parametrize(("method", "status", "request_fields", "expected"), [
    ("GET", 200, [("Range", "bytes=0-1")], ByteRange(0, 1)),
    ("HEAD", 200, [("Range", "bytes=0-1")], None),
    ("GET", 404, [("Range", "bytes=0-1")], None),
    ("GET", 200, [], None),
    ("GET", 200, [("Range", "bytes=0-1"), ("Range", "bytes=2-3")], None),
    ("GET", 200, [("Range", "bytes=0-1"), ("If-Range", '"v1"')], ByteRange(0, 1)),
    ("GET", 200, [("Range", "bytes=0-1"), ("If-Range", '"v0"')], None),
    ("GET", 200, [("Range", "bytes=0-1"), ("If-Range", 'W/"v1"')], None),
    ("GET", 200, [("Range", "bytes=0-1"), ("If-Range", LM)], ByteRange(0, 1)),
    ("GET", 200, [("Range", "bytes=0-1"), ("If-Range", http_date(T0))], None),
    ("GET", 200, [("Range", "bytes=0-1"), ("If-Range", "garbage")], None),
    ("GET", 200, [("Range", "bytes=99-")], UNSATISFIABLE),
])
def test_plan_range(method: str, status: int, request_fields: list[tuple[str, str]],
                    expected: RangePlan) -> None:
    assert plan_range(method, status, Headers(request_fields), STORED, 11) == expected


def stored(*pairs: tuple[str, str], status: int = 200, body: bytes = b"0123456789",
           req: Headers | None = None) -> Entry:
    headers = Headers([("Date", http_date(T0)), ("Cache-Control", "max-age=10"), *pairs])
    return make_entry("/k", status, "OK", headers, body, req or Headers(), T0, T0)


@pytest.mark.parametrize(("head", "expected"), [
    ([], True),
    ([("ETag", '"v1"')], True),
    ([("ETag", '"v2"')], False),
    ([("Last-Modified", LM)], True),
    ([("Last-Modified", http_date(T0))], False),
    ([("Content-Length", "10")], True),
    ([("Content-Length", "11")], False),
    ([("ETag", '"v1"'), ("Content-Length", "10")], True),
])
def test_head_matches(head: list[tuple[str, str]], expected: bool) -> None:
    entry = stored(("ETag", '"v1"'), ("Last-Modified", LM))
    assert head_matches(entry, Headers(head)) is expected


def test_head_effects_update_matching_variant_and_drop_others() -> None:
    same = stored(("ETag", '"v1"'), ("A", "1"))
    changed = stored(("ETag", '"v0"'), ("A", "1"))
    other_variant = stored(("Vary", "Accept"), req=Headers([("Accept", "text/html")]))
    gone = stored(status=404)
    head = Headers([("ETag", '"v1"'), ("A", "2"), ("Cache-Control", "max-age=600"), ("Content-Length", "10")])
    request_fields = Headers([("Accept", "image/png")])
    updates, drops = head_effects([same, changed, other_variant, gone], request_fields, head)
    assert [entry for entry, _ in updates] == [same]
    merged = updates[0][1]
    assert merged.get("a") == "2" and merged.get("cache-control") == "max-age=600"
    assert merged.get("content-length") is None  # describes the body: never taken from the HEAD
    assert drops == [changed, gone]
