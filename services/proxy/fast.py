"""The fast hit path's test: is this raw head a plain `GET` that the stored response alone can answer?

A head qualifies when the shared rule (`services.common.http1.plain`: the full parser's own validation)
accepts it as `GET /target HTTP/1.1` with no field the request cycle would look at: request directives
(Cache-Control, Pragma), conditionals (If-*), Range, Authorization, framing (Content-Length,
Transfer-Encoding), Expect, Upgrade, or a Connection other than one `keep-alive` or `close`. Whether
the stored response may be served is then `cache.policy.decide`'s answer, as on the full path. Tests
feed a corpus through the connection with the fast path on and off and compare bytes.
"""

from __future__ import annotations

from dataclasses import replace

from services.common.http1 import Limits
from services.common.http1.plain import PlainRule, plain_request

RULE = PlainRule(starts=(b"GET /",),
                 slow_fields=frozenset({"cache-control", "pragma", "range", "if-range", "authorization",
                                        "content-length", "transfer-encoding", "expect", "upgrade"}),
                 connections=((), ("keep-alive",), ("close",)))
MAX_FAST_HEAD = 4096   # longer heads take the full path (and its limits)
MEMO_HEAD_MAX = 1024   # heads up to this are remembered once answered (wrk's is ~50 bytes)
MEMO_ENTRIES = 4096

Plain = tuple[str, bool]  # (target, close)


def plain_get(head: bytes, limits: Limits, rule: PlainRule = RULE) -> Plain | None:
    """(target, close) when `head` (one whole head through the blank line) is a plain GET, else None."""
    plain = plain_request(head, limits, rule)
    return None if plain is None else (plain.target, plain.connection == ("close",))


class FastHeads:
    """Raw heads already classified as plain GETs, so a repeated head costs one dict lookup (bounded)."""

    def __init__(self, limits: Limits, slow_fields: frozenset[str] = frozenset(),
                 max_entries: int = MEMO_ENTRIES) -> None:
        """`slow_fields`: more request fields the full path looks at (`--cookie-requests bypass`: Cookie)."""
        self.limits = limits
        self.rule = replace(RULE, slow_fields=RULE.slow_fields | slow_fields) if slow_fields else RULE
        self.max_entries = max_entries
        self._plain: dict[bytes, Plain] = {}

    def classify(self, data: bytes) -> Plain | None:
        """(target, close) when `data` is exactly one head (through its blank line, nothing after it) of a
        plain GET, else None. A head remembered (`remember`) costs one dict lookup."""
        hit = self._plain.get(data)
        if hit is not None or len(data) > MAX_FAST_HEAD or not data.endswith(b"\r\n\r\n"):
            return hit
        if data.find(b"\r\n\r\n") != len(data) - 4:  # pipelined: the full path keeps their order
            return None
        return plain_get(data, self.limits, self.rule)

    def remember(self, data: bytes, plain: Plain) -> None:
        """Keep a head the fast path answered (only those: a burst of misses with heads never seen again
        must not leave thousands of them behind, issue 25)."""
        if len(data) <= MEMO_HEAD_MAX and data not in self._plain:
            if len(self._plain) >= self.max_entries:
                self._plain.clear()
            self._plain[data] = plain
