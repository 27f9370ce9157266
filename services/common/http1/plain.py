"""The one screening rule of both fast paths: is this raw head a plain request the full path would treat
the same way from its method and target alone?

A head is plain when `parse_request_head` (the full parser's own validation, linear time) accepts it as
`METHOD /target HTTP/1.1` with one of the caller's methods (`starts`), none of the caller's `slow_fields`, no
conditional (`If-*`), and a Connection header whose tokens are one of the caller's `connections`. The
server and the proxy differ only in those three parameters (what their full paths look at); each keeps a
differential test that feeds a corpus through its fast and full paths and compares the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import HTTPError
from .parser import Limits
from .validate import parse_request_head


@dataclass(frozen=True, slots=True)
class PlainRule:
    starts: tuple[bytes, ...]  # the methods with an origin-form target's "/": b"GET /", b"HEAD /"
    slow_fields: frozenset[str]  # lower-case names whose presence sends the head to the full path
    connections: tuple[tuple[str, ...], ...]  # Connection token lists that keep it plain; () is no header


@dataclass(frozen=True, slots=True)
class Plain:
    method: str
    target: str
    connection: tuple[str, ...]  # the Connection tokens, lower-case (one of the rule's `connections`)


def plain_request(head: bytes, limits: Limits, rule: PlainRule) -> Plain | None:
    """The plain request in `head` (one whole head through the blank line), or None for the full path."""
    if not head.startswith(rule.starts):
        return None
    try:
        request = parse_request_head(head, limits).request
    except HTTPError:
        return None
    headers = request.headers
    if request.version != "HTTP/1.1" or headers.has_any(rule.slow_fields):
        return None
    if any(name.startswith("if-") for name in headers._lower):
        return None
    connection = tuple(headers.get_tokens("connection"))
    if connection not in rule.connections:
        return None
    return Plain(request.method, request.target, connection)
