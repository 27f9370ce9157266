"""RFC 9110 §5.6.7: recipients accept IMF-fixdate and the two obsolete formats, exactly, and nothing else."""

from __future__ import annotations

import calendar

import pytest

from services.common.http1 import parse_http_date

NOV_6_1994 = 784111777.0
NOW_2026 = float(calendar.timegm((2026, 12, 1, 0, 0, 0)))


@pytest.mark.parametrize("text", [
    "Sun, 06 Nov 1994 08:49:37 GMT",    # IMF-fixdate
    "Sunday, 06-Nov-94 08:49:37 GMT",   # obsolete RFC 850 format
    "Sun Nov  6 08:49:37 1994",         # ANSI C asctime() format
    "  Sun, 06 Nov 1994 08:49:37 GMT\t",  # surrounding OWS is not part of the value
])
def test_the_three_formats(text: str) -> None:
    assert parse_http_date(text, NOW_2026) == NOV_6_1994


@pytest.mark.parametrize("text", [
    "Thu, 18 Aug 2050 02:01:18 UTC",    # other zone name
    "Thu, 18 Aug 2050 02:01:18 +0000",  # numeric zone
    "Thu, 18 Aug 50 02:01:18 GMT",      # two-digit year outside rfc850-date
    "Thu 18 Aug 2050 02:01:18 GMT",     # missing comma
    "Thu, 18  Aug  2050 02:01:18 GMT",  # multiple spaces
    "Thu, 18-Aug-2050 02:01:18 GMT",    # dashes in the date
    "Thu, 18 Aug 2050 02.01.18 GMT",    # periods in the time
    "Thu, 18 Aug 2050 2:01:18 GMT",     # one-digit hour
    "Thu, 8 Aug 2050 02:01:18 GMT",     # one-digit day
    "THU, 18 Aug 2050 02:01:18 GMT",    # HTTP-date is case-sensitive
    "Thu, 18 AUG 2050 02:01:18 GMT",
    "Thu, 18 Aug 2050 02:01:18 gmt",
    "Thursday, 18-Aug-2050 02:01:18 GMT",  # rfc850 with a four-digit year
    "Thu, 18-Aug-50 02:01:18 GMT",      # rfc850 with a short day name
    "Thu Aug 18 02:01:18 2050 GMT",     # asctime has no zone
    "Thu, 31 Feb 2050 02:01:18 GMT",    # no such day
    "Thu, 18 Aug 2050 24:00:00 GMT",
    "Thu, 18 Aug 2050 02:60:18 GMT",
    "Thu, 18 Aug 2050 02:01:61 GMT",
    "Thu, 18 Aug 2050 02:01:18 GMT junk",
    "Thu, １８ Aug 2050 02:01:18 GMT",  # non-ASCII digits
    "0", "-1", "", "junk", "\x00",
])
def test_anything_else_is_invalid(text: str) -> None:
    assert parse_http_date(text, NOW_2026) is None


def test_leap_second_is_accepted() -> None:
    assert parse_http_date("Wed, 31 Dec 2008 23:59:60 GMT") == calendar.timegm((2009, 1, 1, 0, 0, 0))


@pytest.mark.parametrize(("text", "year"), [
    ("Monday, 01-Jan-76 00:00:00 GMT", 2076),  # exactly 50 years ahead: still the future
    ("Tuesday, 01-Jan-77 00:00:00 GMT", 1977),  # more than 50 years ahead: the past century
    ("Saturday, 01-Jan-00 00:00:00 GMT", 2000),
])
def test_rfc850_two_digit_year_is_at_most_50_years_ahead(text: str, year: int) -> None:
    assert parse_http_date(text, NOW_2026) == calendar.timegm((year, 1, 1, 0, 0, 0))
