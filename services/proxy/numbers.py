"""Numbers in header values and request targets: ASCII digits only, linear time, bounded. Pure.

`str.isdigit` accepts `²` and other Unicode digits that `int()` then rejects, and `int()` refuses more
than 4,300 digits; both raised inside a connection's handling. Every number the proxy reads from a peer
goes through `parse_uint`. (To be replaced by the shared parser in `services/common/http1` once it exists.)
"""

from __future__ import annotations

_ASCII_DIGITS = frozenset("0123456789")
UINT_CAP = 2**63


def parse_uint(text: str, cap: int = UINT_CAP) -> int | None:
    """`text` (no surrounding space) as a non-negative integer clamped to `cap`; None unless it is one or
    more ASCII digits. Values longer than `cap` has digits are `cap` without being converted."""
    if not text or not _ASCII_DIGITS.issuperset(text):
        return None
    significant = text.lstrip("0")
    if len(significant) > len(str(cap)):
        return cap
    return min(int(significant or "0"), cap)
