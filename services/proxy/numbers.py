"""Numbers from peers, clamped: `services.common.http1.numbers.parse_decimal` (ASCII digits only, at most
18 of them) for the value, plus the clamp the proxy needs where a huge number has a meaning: delta-seconds
beyond 2^31 count as 2^31 (RFC 9111 §1.2.2), a range position beyond 2^63 is past the end of anything
stored. Linear time: an over-long value is never given to `int()` (which refuses 4,300+ digits)."""

from __future__ import annotations

from services.common.http1.numbers import MAX_DIGITS, parse_decimal

UINT_CAP = 2**63


def parse_uint(text: str, cap: int = UINT_CAP) -> int | None:
    """`text` (no surrounding space) as a non-negative integer clamped to `cap`; None unless it is one or
    more ASCII digits."""
    significant = text.lstrip("0") or text[:1]
    if len(significant) <= MAX_DIGITS:
        value = parse_decimal(significant)
        return None if value is None else min(value, cap)
    return cap if significant.isascii() and significant.isdigit() else None
