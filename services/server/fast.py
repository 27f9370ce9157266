"""The fast path's test: is this raw head a plain GET/HEAD that the full parser would accept unchanged?

A head qualifies when it is `GET|HEAD /target HTTP/1.1`, every field line has the exact shape
`parse_fields` accepts (the same pattern, `FIELD_LINE`), Host appears exactly once, the field count is
within the limit, and no field that changes framing or the answer is present: Content-Length,
Transfer-Encoding, any If-*, Range, or Connection other than a single exact `Connection: keep-alive`
(on HTTP/1.1 the same as none). For such a head the full parser yields a Request with no body and the
planner looks only at the method and the target, so the Protocol may answer it from the file cache
without building `Headers`/`Request`/`Plan`. Anything else returns None and takes the full path; tests
feed a corpus through both paths and compare the bytes.
"""

from __future__ import annotations

import re

from services.common.http1._fields import FIELD_LINE

_SIMPLE = re.compile(rb"(GET|HEAD) (/[\x21-\x7e]*) HTTP/1\.1\r\n(?:" + FIELD_LINE + rb"\r\n)*\r\n")
# Field names that start a line ("\r\n" + name + ":"); values never contain CR or LF, so these are exact.
_CONNECTION = b"\r\nconnection:"
_SLOW_FIELDS = (b"\r\ncontent-length:", b"\r\ntransfer-encoding:", _CONNECTION, b"\r\nif-", b"\r\nrange:")
MAX_FAST_HEAD = 4096  # longer heads take the full path (and its limits)
MEMO_HEAD_MAX = 1024  # heads up to this are remembered after classification (wrk's is ~50, browsers' ~500)


def simple_request(head: bytes, max_fields: int) -> tuple[bytes, bytes] | None:
    """(method, target) when `head` (through the blank line) is a plain GET/HEAD, else None."""
    found = _SIMPLE.fullmatch(head)
    if found is None:
        return None
    lower = head.lower()
    if lower.count(b"\r\nhost:") != 1 or head.count(b"\r\n") - 2 > max_fields:
        return None
    for name in _SLOW_FIELDS:
        if name in lower and not (name == _CONNECTION and _keep_alive_only(lower)):
            return None
    return found.group(1), found.group(2)


def _keep_alive_only(lower: bytes) -> bool:
    """One `Connection: keep-alive` field (what browsers send): on HTTP/1.1 the same as none."""
    return lower.count(_CONNECTION) == 1 and _CONNECTION + b" keep-alive\r\n" in lower


def fast_head_limit(max_request_line: int, max_header_bytes: int) -> int:
    """Heads up to this many bytes can trip neither the 414 nor the 431 size limit."""
    return min(MAX_FAST_HEAD, max_request_line, max_header_bytes)


Route = tuple[bool, bytes, str]  # (is GET, target, URL path)


class FastRoutes:
    """What the fast path may answer: targets the full path last answered with a whole in-memory file,
    and the raw heads already classified for them (a hit costs one dict lookup; heads are bounded)."""

    def __init__(self, max_fields: int, head_limit: int, max_entries: int = 4096) -> None:
        self.max_fields = max_fields
        self.head_limit = head_limit
        self.max_entries = max_entries
        self._paths: dict[bytes, str] = {}
        self._heads: dict[bytes, Route] = {}

    def learn(self, target: bytes, path: str) -> None:
        if len(self._paths) >= self.max_entries:
            self.forget()
        self._paths[target] = path

    def forget(self) -> None:
        self._paths.clear()
        self._heads.clear()

    def route(self, head: bytes) -> Route | None:
        """The route for `head` (one whole head through the blank line), or None for the full path."""
        hit = self._heads.get(head)
        if hit is not None or len(head) > self.head_limit:
            return hit
        simple = simple_request(head, self.max_fields)
        path = None if simple is None else self._paths.get(simple[1])
        if simple is None or path is None:
            return None
        hit = (simple[0] == b"GET", simple[1], path)
        if len(head) <= MEMO_HEAD_MAX:  # bounds the memo: max_entries × 1 KiB
            if len(self._heads) >= self.max_entries:
                self._heads.clear()
            self._heads[head] = hit
        return hit
