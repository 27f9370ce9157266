"""Numbers from peers are ASCII-only and bounded (issue 16 #13): `²` passes `str.isdigit` and 5,000
digits exceed `int()`'s limit; both used to raise inside the proxy's request handling."""

from __future__ import annotations

import pytest

from services.proxy.cache.directives import DELTA_MAX, parse_cache_control, parse_delta
from services.proxy.cache.ranges import UNSATISFIABLE, ByteRange, parse_range
from services.proxy.numbers import UINT_CAP, parse_uint
from services.proxy.target import TargetError, connect_route, forward_route, parse_allow, reverse_route

HUGE = "9" * 5000


@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("007", 7), ("12", 12), ("0" * 5000 + "5", 5), (HUGE, UINT_CAP), ("", None), ("\xb2", None),
    ("1\xb2", None), ("\u0661", None), ("-1", None), ("+1", None), (" 1", None), ("1_000", None),
])
def test_parse_uint(text: str, expected: int | None) -> None:
    assert parse_uint(text) == expected


def test_parse_uint_clamps_to_the_cap() -> None:
    assert parse_uint("99", 50) == 50 and parse_uint("12345678901", 2**31) == 2**31


def test_delta_seconds_beyond_2_31_count_as_2_31_and_unicode_digits_are_invalid() -> None:
    assert parse_delta(HUGE) == DELTA_MAX and parse_delta("\xb2") == -1
    directives = parse_cache_control([f"max-age={HUGE}, min-fresh={HUGE}"])
    assert directives.seconds("max-age") == DELTA_MAX and directives.seconds("min-fresh") == DELTA_MAX


@pytest.mark.parametrize(("value", "expected"), [
    ("bytes=\xb2-", None), ("bytes=-\xb2", None), ("bytes=1-\xb2", None),
    (f"bytes={HUGE}-", UNSATISFIABLE), (f"bytes=0-{HUGE}", ByteRange(0, 99)),
    (f"bytes=-{HUGE}", ByteRange(0, 99)),
])
def test_ranges_with_odd_numbers_are_ignored_or_clamped(value: str, expected: object) -> None:
    assert parse_range(value, 100) == expected


@pytest.mark.parametrize("target", ["http://[", "http://[]/", "http://a]/", "http://[zz]/x", "http://[::1"])
def test_bracketed_absolute_targets_are_400_in_both_modes(target: str) -> None:
    with pytest.raises(TargetError) as exc:
        reverse_route(target, ("o", 1))
    assert exc.value.status == 400
    with pytest.raises(TargetError) as exc:
        forward_route(target, frozenset())
    assert exc.value.status == 400


@pytest.mark.parametrize("target", ["h:\xb2", "h:99999", f"h:{HUGE}", "h:", "h"])
def test_connect_ports_are_ascii_and_in_range(target: str) -> None:
    with pytest.raises(TargetError) as exc:
        connect_route(target, parse_allow("h:443"))
    assert exc.value.status == 400

