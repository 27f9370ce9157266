"""Timeouts, exhaustion and crashes of one connection, with a fake clock and a fake transport.

No real sleeps: the clock is moved by hand and the sweeper's sleep is a fake that advances it.
"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from services.common import log
from services.common.clock import FakeClock
from services.common.connection.lifecycle import Connections, drain, sweep
from services.common.connection.state import Timeouts
from services.server.app import ServerConfig, make_context
from services.server.context import Context
from services.server.fdlimit import Exhaustion
from services.server.files import Exhausted
from services.server.protocol import HttpProtocol
from tests.unit.fake_transport import FakeTransport

MS = 1_000_000
GET = b"GET /a.html HTTP/1.1\r\nHost: t\r\n\r\n"


class FakeSocket:
    """Reports `acked` as TCP_INFO's tcpi_bytes_acked."""

    def __init__(self) -> None:
        self.acked = 0

    def getsockopt(self, level: int, option: int, size: int) -> bytes:
        return bytes(120) + self.acked.to_bytes(8, sys.byteorder) + bytes(size - 128)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ctx(tmp_path: Path, clock: FakeClock) -> Context:
    (tmp_path / "a.html").write_bytes(b"<p>a</p>\n")
    config = ServerConfig(root=str(tmp_path), access_log=False, timeouts=Timeouts(0.010, 0.015, 0.020))
    return make_context(config, clock)


@pytest.fixture
def logs() -> Any:
    stream = io.StringIO()
    log.configure("server", stream=stream)
    yield stream
    log.configure("qoslab", stream=None)


def connect(ctx: Context, live: Connections | None = None) -> tuple[HttpProtocol, FakeTransport]:
    proto, transport = HttpProtocol(ctx, live), FakeTransport(FakeSocket())
    proto.connection_made(transport)
    return proto, transport


def sock_of(transport: FakeTransport) -> FakeSocket:
    assert isinstance(transport.sock, FakeSocket)
    return transport.sock


def tick(proto: HttpProtocol, ctx: Context, clock: FakeClock, ms: float) -> None:
    clock.advance_ns(int(ms * MS))
    proto.check_timeouts(ctx.now())


def test_unfinished_head_gets_408_after_the_header_timeout(ctx: Context, clock: FakeClock) -> None:
    proto, transport = connect(ctx)
    proto.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n")
    tick(proto, ctx, clock, 9)
    assert transport.data == b"" and not transport.closed
    tick(proto, ctx, clock, 2)
    assert transport.data.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in transport.data
    assert transport.ended and ctx.stats.timeouts_header == 1


def test_an_error_answer_is_followed_by_a_bounded_lingering_close(ctx: Context, clock: FakeClock) -> None:
    """Half-closed after the 408, the rest of the client's bytes read and dropped, closed a header timeout
    later: a close with unread bytes would reset the connection and could discard the answer."""
    proto, transport = connect(ctx)
    proto.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n")
    tick(proto, ctx, clock, 11)
    answered = transport.data
    assert answered.startswith(b"HTTP/1.1 408 ") and transport.eof_written and not transport.closed
    proto.data_received(b"X-Late: 1\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
    tick(proto, ctx, clock, 9)
    assert transport.data == answered and not transport.closed
    tick(proto, ctx, clock, 2)
    assert transport.closed and not transport.aborted and transport.data == answered


def test_a_graceful_stop_ends_a_lingering_close_at_once(ctx: Context, clock: FakeClock) -> None:
    proto, transport = connect(ctx)
    proto.data_received(b"GET / HTTP/1.1\r\nHost: t\r\n")
    tick(proto, ctx, clock, 11)
    assert transport.eof_written and not transport.closed
    proto.shutdown()
    assert transport.closed and not transport.aborted



def test_slowloris_drip_does_not_extend_the_header_timeout(ctx: Context, clock: FakeClock) -> None:
    proto, transport = connect(ctx)
    proto.data_received(b"GET / HTTP/1.1\r\n")
    for _ in range(5):  # a byte every 3 ms: the head is still due 10 ms after its first byte
        tick(proto, ctx, clock, 3)
        if transport.ended:
            break
        proto.data_received(b"X")
    assert transport.data.startswith(b"HTTP/1.1 408 ") and transport.ended
    assert clock.mono - FakeClock().mono <= 12 * MS


def test_idle_keep_alive_closes_without_a_response(ctx: Context, clock: FakeClock) -> None:
    proto, transport = connect(ctx)
    proto.data_received(GET)
    answered = transport.data
    assert answered.startswith(b"HTTP/1.1 200 ")
    tick(proto, ctx, clock, 14)
    assert not transport.closed
    proto.data_received(GET)  # activity restarts the idle clock
    tick(proto, ctx, clock, 14)
    assert not transport.closed
    tick(proto, ctx, clock, 2)
    assert transport.closed and not transport.aborted and transport.data == answered * 2
    assert ctx.stats.timeouts_idle == 1


def sendfile_in_flight(proto: HttpProtocol, ctx: Context) -> None:
    """The state `_send_file` leaves while `loop.sendfile` runs (busy, progress stamped now)."""
    proto.state.busy = True
    proto.flow.file_started(ctx.now())


def test_sendfile_to_a_client_that_reads_nothing_is_aborted(ctx: Context, clock: FakeClock,
                                                             logs: Any) -> None:
    """Issue 16 item 1: check_timeouts returned early during sendfile, so stalled readers stayed forever."""
    proto, transport = connect(ctx)
    sendfile_in_flight(proto, ctx)
    tick(proto, ctx, clock, 19)
    assert not transport.closed
    tick(proto, ctx, clock, 2)
    assert transport.aborted and ctx.stats.timeouts_send == 1
    assert logs.getvalue().count("event=server.send_timeout") == 1


def test_sendfile_to_a_slow_but_reading_client_continues(ctx: Context, clock: FakeClock) -> None:
    proto, transport = connect(ctx)
    sendfile_in_flight(proto, ctx)
    for _ in range(20):  # 200 ms, ten send timeouts, but every check sees new bytes acknowledged
        sock_of(transport).acked += 1000
        tick(proto, ctx, clock, 10)
    assert not transport.closed
    tick(proto, ctx, clock, 15)
    tick(proto, ctx, clock, 10)
    assert transport.aborted


def test_paused_writer_is_aborted_after_the_send_timeout(ctx: Context, clock: FakeClock) -> None:
    proto, transport = connect(ctx)
    proto.pause_writing()
    tick(proto, ctx, clock, 19)
    assert not transport.closed
    tick(proto, ctx, clock, 2)
    assert transport.aborted and ctx.stats.timeouts_send == 1


def test_paused_writer_that_keeps_reading_is_not_aborted(ctx: Context, clock: FakeClock) -> None:
    proto, transport = connect(ctx)
    proto.pause_writing()
    for _ in range(10):
        sock_of(transport).acked += 100
        tick(proto, ctx, clock, 10)
    assert not transport.closed


def test_exhaustion_is_503_with_one_log_line_per_episode(ctx: Context, clock: FakeClock, logs: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(path: str, now: float) -> None:
        raise Exhausted(24, "Too many open files")

    monkeypatch.setattr(ctx.site, "find", exhausted)
    for _ in range(50):
        proto, transport = connect(ctx)
        proto.data_received(GET)
        assert transport.data.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 1\r\n" in transport.data
    assert logs.getvalue().count("event=server.fd_exhausted") == 1
    ctx.exhaustion.tick(ctx.now())
    assert "event=server.fd_recovered" not in logs.getvalue()
    clock.advance_ns(1100 * MS)
    ctx.exhaustion.tick(ctx.now())
    assert logs.getvalue().count("event=server.fd_recovered failures=50 ") == 1
    connect(ctx)[0].data_received(GET)
    assert logs.getvalue().count("event=server.fd_exhausted") == 2  # a new episode


def test_a_crash_while_handling_is_a_500_and_one_log_line(ctx: Context, logs: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    proto, transport = connect(ctx)

    def broken(*args: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(proto, "_respond", broken)
    proto.data_received(GET)
    assert transport.data.startswith(b"HTTP/1.1 500 ") and transport.ended
    assert logs.getvalue().count("event=server.error") == 1 and "Traceback" not in logs.getvalue()
    assert ctx.stats.internal_errors == 1


def test_registry_and_sweeper_use_the_injected_clock(ctx: Context, clock: FakeClock) -> None:
    live = Connections()
    proto, transport = connect(ctx, live)
    proto.data_received(b"GET / HTTP/1.1\r\n")
    assert len(live) == 1
    slept: list[float] = []
    ticks: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance_ns(int(seconds * 1e9))
        if len(slept) > 5:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(sweep(live, 0.004, ctx.now, fake_sleep, ticks.append))
    assert slept == [0.004] * 6 and len(ticks) == 5
    assert transport.data.startswith(b"HTTP/1.1 408 ")
    proto.connection_lost(None)
    assert len(live) == 0


def test_drain_waits_then_aborts_what_is_left(ctx: Context, clock: FakeClock) -> None:
    live = Connections()
    idle, idle_transport = connect(ctx, live)
    busy, busy_transport = connect(ctx, live)
    busy.data_received(b"GET / HTTP/1.1\r\n")  # a head in progress: shutdown lets it finish

    async def fake_sleep(seconds: float) -> None:
        clock.advance_ns(int(seconds * 1e9))
        if idle_transport.closed:
            idle.connection_lost(None)

    left = asyncio.run(drain(live, 0.5, ctx.now, fake_sleep))
    assert idle_transport.closed and not idle_transport.aborted
    assert left == 1 and busy_transport.aborted


def test_exhaustion_episodes() -> None:
    episodes = Exhaustion(quiet_s=1.0)
    for now in (0.0, 0.5, 1.2, 2.0):
        episodes.note("accept", now)
    episodes.tick(2.5)
    assert episodes.active and episodes.episodes == 1
    episodes.tick(3.0)
    assert not episodes.active
    episodes.note("open", 3.1)
    assert episodes.episodes == 2 and episodes.failures == 1
