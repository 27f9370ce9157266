"""Flow control: writers wait while the transport is paused; the send timeout counts acknowledged progress."""

from __future__ import annotations

import asyncio
import sys

from services.common.connection.flow import FlowControl, bytes_acked
from tests.unit.fake_transport import FakeTransport


class AckingSocket:
    """Reports `acked` as TCP_INFO's tcpi_bytes_acked."""

    def __init__(self) -> None:
        self.acked = 0

    def getsockopt(self, level: int, option: int, size: int) -> bytes:
        return bytes(120) + self.acked.to_bytes(8, sys.byteorder) + bytes(size - 128)


def test_a_writer_waits_while_paused_and_wakes_on_resume() -> None:
    async def main() -> None:
        flow = FlowControl(FakeTransport())
        await flow.drain()  # not paused: at once
        flow.pause_writing(1.0)
        waiter = asyncio.get_running_loop().create_task(flow.drain())
        await asyncio.sleep(0)
        assert not waiter.done() and flow.blocked
        flow.resume_writing()
        await asyncio.sleep(0)
        assert waiter.done() and not flow.blocked

    asyncio.run(main())


def test_progress_is_what_the_client_acknowledged() -> None:
    sock = AckingSocket()
    flow = FlowControl(FakeTransport(sock))
    flow.pause_writing(0.0)
    assert not flow.stalled(59.0, 60.0)
    sock.acked += 1  # a slow reader that keeps reading is never cut
    assert not flow.stalled(61.0, 60.0)
    assert not flow.stalled(120.0, 60.0)
    assert flow.stalled(121.5, 60.0)


def test_without_tcp_info_a_pause_counts_from_its_start_and_a_sendfile_is_never_cut() -> None:
    flow = FlowControl(FakeTransport())
    assert bytes_acked(flow.transport) is None
    flow.pause_writing(10.0)
    assert not flow.stalled(69.0, 60.0) and flow.stalled(70.5, 60.0)
    flow.resume_writing()
    flow.file_started(100.0)
    assert flow.blocked and not flow.stalled(1000.0, 60.0)
    flow.file_ended()
    assert not flow.blocked
