"""Age and freshness lifetime (RFC 9111 §4.2): pure functions of header values and times in seconds.

`now`, `request_time` and `response_time` are wall-clock seconds supplied by the caller.
"""

from __future__ import annotations

from services.common.http1.headers import Headers
from services.common.http1.writer import parse_http_date

from .directives import DELTA_MAX, Directives, parse_delta
from .surrogate import surrogate_directives

# §4.2.2: statuses a cache may assign heuristic freshness to (RFC 9110 §15.1 "heuristically cacheable").
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
HEURISTIC_FRACTION = 0.1
HEURISTIC_MAX_S = 86400.0


def age_value(headers: Headers) -> int:
    """The Age header as delta-seconds (RFC 9111 §5.1): 0 when absent; of a list (one line with commas or
    several lines) only the first member counts; an invalid value (not a non-negative integer) is ignored."""
    values = headers.get_all("age")
    if not values:
        return 0
    members = (member.strip(" \t") for value in values for member in value.split(","))
    first = next((member for member in members if member), "")  # empty list elements: ignored (§5.6.1)
    parsed = parse_delta(first)
    return parsed if parsed >= 0 else 0


def date_value(headers: Headers, response_time: float) -> float:
    """The Date header, or the receipt time when absent, invalid or repeated (RFC 9110 §6.6.1: a recipient
    with no valid Date uses the time it received the message)."""
    values = headers.get_all("date")
    parsed = parse_http_date(values[0]) if len(values) == 1 else None
    return response_time if parsed is None else parsed


def corrected_initial_age(headers: Headers, request_time: float, response_time: float) -> float:
    """§4.2.3: max(apparent_age, corrected_age_value) at the time the response arrived."""
    apparent_age = max(0.0, response_time - date_value(headers, response_time))
    response_delay = max(0.0, response_time - request_time)
    corrected_age_value = age_value(headers) + response_delay
    return max(apparent_age, corrected_age_value)


def current_age(initial_age: float, response_time: float, now: float) -> float:
    """§4.2.3: corrected_initial_age + resident_time."""
    return initial_age + max(0.0, now - response_time)


def _explicit_lifetime(headers: Headers, cc: Directives, response_time: float) -> float | None:
    for name in ("s-maxage", "max-age"):
        seconds = cc.seconds(name)
        if seconds is not None:
            return float(max(seconds, 0))
    expires = headers.get_all("expires")
    if not expires:
        return None
    if len(expires) > 1:
        return 0.0
    when = parse_http_date(expires[0])
    if when is None:
        return 0.0  # §5.3: an invalid Expires means "already expired"
    return max(0.0, when - date_value(headers, response_time))


def freshness_lifetime(status: int, headers: Headers, cc: Directives, response_time: float) -> float:
    """§4.2.1: Surrogate-Control max-age > s-maxage > max-age > Expires − Date > heuristic (§4.2.2) > 0."""
    surrogate = surrogate_directives(headers)
    if surrogate is not None and "max-age" in surrogate:
        return float(max(surrogate.seconds("max-age") or 0, 0))
    explicit = _explicit_lifetime(headers, cc, response_time)
    if explicit is not None:
        return min(explicit, float(DELTA_MAX))
    if status not in HEURISTIC_STATUSES and "public" not in cc:
        return 0.0
    when = last_modified_value(headers)
    if when is None:  # absent or invalid Last-Modified: no heuristic freshness
        return 0.0
    since = date_value(headers, response_time) - when
    return min(max(0.0, since * HEURISTIC_FRACTION), HEURISTIC_MAX_S)


def last_modified_value(headers: Headers) -> float | None:
    """Last-Modified as a timestamp; None when absent, invalid or repeated (then it is no validator)."""
    values = headers.get_all("last-modified")
    return parse_http_date(values[0]) if len(values) == 1 else None


def has_explicit_freshness(headers: Headers, cc: Directives) -> bool:
    return "s-maxage" in cc or "max-age" in cc or "expires" in headers
