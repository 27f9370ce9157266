"""Fuzz one connection of the server: whatever bytes arrive, in whatever pieces, nothing escapes the
Protocol, nothing is answered 500, a complete head is answered, and end of input closes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.clock import FakeClock
from services.server.app import ServerConfig, make_context
from services.server.context import Context

from .test_timeouts import GET, connect

PIECES = [GET, b"GET ", b"HEAD ", b"POST ", b"OPTIONS ", b"/a.html", b"/", b"/%2e%2e/", b"//x", b"?q", b"*",
          b" HTTP/1.1", b" HTTP/1.0", b" HTTP/2.0", b"\r\n", b"\r\n\r\n", b"Host: t", b"Content-Length: ",
          b"3", b"\xb2", b"Transfer-Encoding: chunked", b"Connection: close", b"Range: bytes=", b"0-1",
          b"-\xb2", b"If-None-Match: ", b"*", b"X:        ", b" ", b"\t", b"\xa0", b"\x00", b"0\r\n", b"abc"]
streams = st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Context:
    root: Path = tmp_path_factory.mktemp("www")
    (root / "a.html").write_bytes(b"<p>a</p>\n")
    (root / "x").mkdir()
    return make_context(ServerConfig(root=str(root), access_log=False), FakeClock())


@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(streams, st.integers(min_value=1, max_value=64))
def test_any_bytes_end_answered_or_closed(ctx: Context, data: bytes, step: int) -> None:
    proto, transport = connect(ctx)
    for start in range(0, len(data), step):
        if transport.ended:
            break
        proto.data_received(data[start:start + step])  # raises nothing: any exception is a failure
    assert not proto.eof_received()  # asyncio closes our side once the answers are written
    assert b"HTTP/1.1 500 " not in transport.data and ctx.stats.internal_errors == 0
    while data.startswith(b"\r\n"):  # empty lines before a head are skipped
        data = data[2:]
    if b"\r\n\r\n" in data:
        assert transport.data.startswith(b"HTTP/1.1 ")  # a complete head was answered
