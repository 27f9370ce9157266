"""Large bodies with `sendfile`: try right away, and leave only what the socket refused to the loop.

`loop.sendfile` costs a task, pause/resume of reading (four `epoll_ctl`), `fstat`, two `lseek` and a
round through the loop per response even when the kernel takes the whole range in one call, which on a
fast link (loopback, a LAN) it usually does. `send_now` writes the head and calls `os.sendfile` directly
while the transport's own buffer is empty (so ordering is kept), with TCP_CORK set around both so the
head and the first file bytes share a segment instead of the head leaving alone (asyncio sets
TCP_NODELAY): the client wakes once per response, not twice. What is left when the socket is full, or
beyond `SYNC_MAX` (so one fast client of a huge file cannot hold the event loop), goes to
`loop.sendfile` as before.

The caller opens the file before anything is written, so running out of descriptors can still be
answered with a 503. The send timeout tells a stalled `sendfile` from a slow one by what the client has
acknowledged (`services.common.connection.flow`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket

_CORK = getattr(socket, "TCP_CORK", None)
SYNC_MAX = 4 * 1024 * 1024  # at most this much per response before the loop gets control back


def send_now(transport: asyncio.Transport, head: bytes, file_fd: int, offset: int, length: int) -> int:
    """Write `head`, then as many bytes of the open file's `offset`…`offset+length` as the socket takes now.

    Returns the number of file bytes sent; raises OSError when the file cannot be read or shrank.
    """
    sock = transport.get_extra_info("socket")
    if sock is None or transport.is_closing():
        transport.write(head)
        return 0
    corked = _cork(sock, 1)
    try:
        transport.write(head)
        if transport.get_write_buffer_size() or transport.is_closing():
            return 0
        return _pump(sock.fileno(), file_fd, offset, min(length, SYNC_MAX))
    finally:
        if corked:
            _cork(sock, 0)


def _cork(sock: socket.socket, value: int) -> bool:
    if _CORK is None:
        return False
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, _CORK, value)
        return True
    return False


def _pump(out_fd: int, in_fd: int, offset: int, length: int) -> int:
    sent = 0
    while sent < length:
        try:
            count = os.sendfile(out_fd, in_fd, offset + sent, length - sent)
        except BlockingIOError:
            break
        if count == 0:
            raise OSError(f"short sendfile {sent}/{length}: the file shrank")
        sent += count
    return sent
