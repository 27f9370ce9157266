"""Write-side flow control of one client transport (uvicorn's `flow_control.py`) and the progress the send
timeout reads.

asyncio calls `pause_writing` when the transport's buffer passes its high-water mark and `resume_writing`
when it drains; a writer that streams (the proxy's upstream bodies) awaits `drain()` in between. Bytes sent
with `sendfile` bypass that buffer, so `file_started`/`file_ended` mark them. "Progress" is new bytes the
client acknowledged (`TCP_INFO`), so a slow reader that keeps reading is never cut; where the kernel does
not say, a paused writer counts from the pause and a sendfile is never cut (its progress is invisible).
"""

from __future__ import annotations

import asyncio
import socket
import sys

_TCP_INFO = getattr(socket, "TCP_INFO", None)
_BYTES_ACKED = slice(120, 128)  # struct tcp_info.tcpi_bytes_acked (u64, Linux >= 4.1)


def bytes_acked(transport: asyncio.BaseTransport | None) -> int | None:
    """Bytes the peer has acknowledged on this TCP connection, or None where the kernel does not say."""
    sock = None if transport is None else transport.get_extra_info("socket")
    if _TCP_INFO is None or sock is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 256)
    except (OSError, ValueError):
        return None
    if len(info) < _BYTES_ACKED.stop:
        return None
    return int.from_bytes(info[_BYTES_ACKED], sys.byteorder)


class FlowControl:
    __slots__ = ("_drained", "acked", "file_sending", "progress_at", "transport", "write_paused")

    def __init__(self, transport: asyncio.BaseTransport | None = None) -> None:
        self.transport = transport
        self.write_paused = False
        self.file_sending = False
        self.acked: int | None = None  # bytes the client had acknowledged at `progress_at`
        self.progress_at = 0.0
        self._drained: asyncio.Event | None = None  # made only when a writer waits

    @property
    def blocked(self) -> bool:
        """Bytes of an answer are waiting on the client: the buffer is full, or a sendfile runs."""
        return self.write_paused or self.file_sending

    def pause_writing(self, now: float) -> None:
        if not self.write_paused:
            self.write_paused = True
            self._mark(now)

    def resume_writing(self) -> None:
        """The transport takes more, or the connection is gone (its writes are no-ops): wake any writer."""
        if self.write_paused:
            self.write_paused = False
            if self._drained is not None:
                self._drained.set()
                self._drained = None

    def file_started(self, now: float) -> None:
        self.file_sending = True
        self._mark(now)

    def file_ended(self) -> None:
        self.file_sending = False

    async def drain(self) -> None:
        """Wait until the transport takes more (at once when it is not paused)."""
        if self.write_paused:
            if self._drained is None:
                self._drained = asyncio.Event()
            await self._drained.wait()

    def stalled(self, now: float, send_s: float) -> bool:
        """Has the client acknowledged nothing new for `send_s` (nginx's send_timeout)?"""
        acked = bytes_acked(self.transport)
        if acked is not None and acked != self.acked:
            self.acked, self.progress_at = acked, now
            return False
        if acked is None and self.file_sending:
            return False
        return now - self.progress_at > send_s

    def _mark(self, now: float) -> None:
        self.acked, self.progress_at = bytes_acked(self.transport), now
