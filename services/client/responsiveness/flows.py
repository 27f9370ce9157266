"""Load-generating connections: bulk HTTP/1.1 downloads and uploads that keep the link saturated.

A download flow GETs a large object over and over on one keep-alive connection and only counts bytes;
an upload flow POSTs `upload_bytes` of zeros to the server's sink, again and again, writing only while
the transport accepts more (`pause_writing`), with TCP_NOTSENT_LOWAT so the kernel holds little unsent
data (the draft asks test endpoints to avoid their own bufferbloat). Bytes moved and the RTT estimate
come from TCP_INFO (`tcpinfo`); off Linux the download counts what it read and the upload what it wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

from services.client.httpc import USER_AGENT, Target
from services.client.load.reader import ReplyError, ReplyReader
from services.client.responsiveness import tcpinfo
from services.common.http1 import build_request_head

TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)
NOTSENT_LOWAT_BYTES = 128 << 10
WRITE_HIGH_BYTES = 256 << 10
CHUNK = bytes(64 << 10)
RECV_BYTES = 1 << 16

Failure = Callable[["Flow", str], None]


class Flow(asyncio.BufferedProtocol):
    """What both directions share: the socket, the byte count, the error report."""

    direction = ""

    def __init__(self, number: int, target: Target, on_failure: Failure) -> None:
        self.number = number
        self.target = target
        self.on_failure = on_failure
        self.transport: asyncio.Transport | None = None
        self.sock: socket.socket | None = None
        self.reader = ReplyReader()
        self.app_bytes = 0       # read (download) or written (upload) by the application
        self.tcp_bytes = -1      # from TCP_INFO; -1 until read once
        self.stopped = False
        self._buffer = bytearray(RECV_BYTES)
        self._view = memoryview(self._buffer)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sock = transport.get_extra_info("socket")
        self.start()

    def start(self) -> None:
        raise NotImplementedError

    def sample(self) -> tcpinfo.TcpInfo | None:
        """Read TCP_INFO now (keeping the byte count for after the close)."""
        if self.sock is None or self.stopped:
            return None
        info = tcpinfo.read(self.sock)
        if info is not None:
            self.tcp_bytes = self._tcp_bytes(info)
        return info

    def _tcp_bytes(self, info: tcpinfo.TcpInfo) -> int:
        raise NotImplementedError

    @property
    def moved(self) -> int:
        """Payload bytes this flow moved: TCP's count when known, else the application's."""
        return self.tcp_bytes if self.tcp_bytes >= 0 else self.app_bytes

    def stop(self) -> None:
        """End the flow now (the phase is over): a last sample, then an abort (no lingering data)."""
        if self.stopped:
            return
        self.sample()
        self.stopped = True
        if self.transport is not None:
            self.transport.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.received(nbytes)
        try:
            replies = self.reader.feed(bytes(self._view[:nbytes]))
        except ReplyError:
            self.fail("protocol")
            return
        for reply in replies:
            if reply.status >= 400:
                self.fail(f"http_{reply.status}")
                return
            if reply.close:
                self.fail("closed")
                return
            self.next_request()

    def received(self, nbytes: int) -> None:
        """Bytes of the response stream arrived."""

    def next_request(self) -> None:
        raise NotImplementedError

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.stopped:
            self.fail("reset" if exc else "closed")

    def fail(self, kind: str) -> None:
        if self.stopped:
            return
        self.stop()
        self.on_failure(self, kind)

    def head(self, method: str, extra: list[tuple[str, str]]) -> bytes:
        return build_request_head(method, self.target.request_target, [
            ("Host", self.target.host_header), ("User-Agent", USER_AGENT), *extra])


class DownloadFlow(Flow):
    direction = "down"

    def start(self) -> None:
        self._request = self.head("GET", [("Accept-Encoding", "identity")])
        self.next_request()

    def next_request(self) -> None:
        if self.transport is not None and not self.stopped:
            self.transport.write(self._request)

    def received(self, nbytes: int) -> None:
        self.app_bytes += nbytes

    def _tcp_bytes(self, info: tcpinfo.TcpInfo) -> int:
        return info.bytes_received


class UploadFlow(Flow):
    """POSTs of `size` zero bytes, one after the other; the next starts when the sink has answered."""

    direction = "up"

    def __init__(self, number: int, target: Target, on_failure: Failure, size: int) -> None:
        super().__init__(number, target, on_failure)
        self.size = size
        self._left = 0
        self._paused = False

    def start(self) -> None:
        assert self.transport is not None
        if self.sock is not None:
            with contextlib.suppress(OSError):  # an old kernel: the transport's limit still bounds it
                self.sock.setsockopt(socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, NOTSENT_LOWAT_BYTES)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_BYTES)
        self._head = self.head("POST", [("Content-Type", "application/octet-stream"),
                                        ("Content-Length", str(self.size))])
        self.next_request()

    def next_request(self) -> None:
        if self.transport is None or self.stopped:
            return
        self.transport.write(self._head)
        self._left = self.size
        self._pump()

    def _pump(self) -> None:
        assert self.transport is not None
        while self._left > 0 and not self._paused and not self.stopped:
            piece = CHUNK if self._left >= len(CHUNK) else CHUNK[: self._left]
            self._left -= len(piece)
            self.app_bytes += len(piece)
            self.transport.write(piece)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if not self.stopped:
            self._pump()

    def _tcp_bytes(self, info: tcpinfo.TcpInfo) -> int:
        return max(info.bytes_acked - 1, 0)  # the SYN counts as one acknowledged byte
