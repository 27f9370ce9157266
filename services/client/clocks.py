"""Whether one-way delays can be absolute: the clock mode stated in every result row (pure).

A one-way delay subtracts a send time read on one host from a receive time read on another, so it is
exact only when both read one clock (containers on one host, or hosts kept in step by PTP/chrony).
With separate clocks the offset between them is in every value; the client then reports each
direction relative to its own minimum (`relative`: queueing and variation, offset cancelled) or not at
all (`omitted`). RTT, jitter, IPDV and PDV use one clock only and stay exact either way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

SHARED = "shared"
RELATIVE = "relative"
OMITTED = "omitted"
SEPARATE_MODES = (RELATIVE, OMITTED)
COLUMN = "owd_clock"


def parse_separate(text: str) -> str:
    """`--separate-clocks`: what to report when the clocks are not shared."""
    value = text.strip().lower()
    if value not in SEPARATE_MODES:
        raise ValueError(f"expected one of {', '.join(SEPARATE_MODES)}, got {text!r}")
    return value


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def mode(shared: bool, separate: str) -> str:
    return SHARED if shared else separate


def configured_mode(override: bool | None, separate: str, host: str) -> str:
    """The mode before any measurement: the user's word, else shared only for a loopback target."""
    return mode(is_loopback(host) if override is None else override, separate)


def relative(values_ns: Mapping[int, int]) -> dict[int, int]:
    """Each value minus the smallest: the constant clock offset (and the base delay) cancels."""
    if not values_ns:
        return {}
    floor = min(values_ns.values())
    return {key: value - floor for key, value in values_ns.items()}


def oneway(values_ns: Mapping[int, int], clock_mode: str) -> dict[int, int]:
    """The one-way delays to report in this mode."""
    if clock_mode == SHARED:
        return dict(values_ns)
    if clock_mode == RELATIVE:
        return relative(values_ns)
    return {}

