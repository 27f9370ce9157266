"""Response head pieces both services write: status lines, the Connection field, 100 Continue."""

from __future__ import annotations

import pytest

from services.common.connection.heads import CONTINUE, connection_field, expects_continue, status_line
from services.common.http1 import Headers, Request


def test_status_lines() -> None:
    assert status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert status_line(408) == b"HTTP/1.1 408 Request Timeout\r\n"
    assert status_line(299) == b"HTTP/1.1 299 \r\n"  # no known reason: an empty one


@pytest.mark.parametrize(("keep", "version", "field"), [
    (True, "HTTP/1.1", b""),
    (False, "HTTP/1.1", b"Connection: close\r\n"),
    (True, "HTTP/1.0", b"Connection: keep-alive\r\n"),  # an HTTP/1.0 client must be told
    (False, "HTTP/1.0", b"Connection: close\r\n"),
])
def test_connection_field(keep: bool, version: str, field: bytes) -> None:
    assert connection_field(keep, version) == field


@pytest.mark.parametrize(("version", "expect", "expected"), [
    ("HTTP/1.1", "100-continue", True),
    ("HTTP/1.1", "100-Continue", True),
    ("HTTP/1.0", "100-continue", False),
    ("HTTP/1.1", None, False),
    ("HTTP/1.1", "something-else", False),
])
def test_expects_continue(version: str, expect: str | None, expected: bool) -> None:
    headers = Headers([("Host", "t")] + ([("Expect", expect)] if expect else []))
    assert expects_continue(Request("POST", "/", version, headers)) is expected
    assert CONTINUE == b"HTTP/1.1 100 Continue\r\n\r\n"
