"""Response head pieces every service writes the same way: status lines, the `Connection` field, and the
interim `100 Continue` (RFC 9110 §10.1.1, §15.2.1; RFC 9112 §9.3, §9.6)."""

from __future__ import annotations

from services.common.http1 import REASONS, Request

STATUS_LINES = {code: f"HTTP/1.1 {code} {reason}\r\n".encode() for code, reason in REASONS.items()}
CLOSE = b"Connection: close\r\n"
KEEP_ALIVE = b"Connection: keep-alive\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def status_line(status: int) -> bytes:
    """`HTTP/1.1 200 OK\\r\\n`; a status without a known reason keeps an empty one (RFC 9112 §4)."""
    return STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status


def connection_field(keep: bool, version: str) -> bytes:
    """The `Connection` field line of a response: `close` when the connection ends after it; `keep-alive`
    to an HTTP/1.0 client whose connection persists (it closes otherwise); none on HTTP/1.1, which persists
    by default."""
    if not keep:
        return CLOSE
    return KEEP_ALIVE if version == "HTTP/1.0" else b""


def expects_continue(request: Request) -> bool:
    """Does the client wait for `100 Continue` before sending its body? Only HTTP/1.1 clients may ask."""
    return request.version == "HTTP/1.1" and "100-continue" in request.headers.get_tokens("expect")
