"""A forwarded request body on its way upstream while it still arrives (an upload passed through).

The client connection feeds the pieces (`feed`, then `end`); the exchange takes them (`next`) and writes
them to the upstream as fast as the upstream reads. About `window` bytes wait here at most (plus the one
read that crossed it): above it the client connection stops reading (`hold(True)`), and reads again once
half of them are gone, so a slow upstream
slows the client instead of filling memory (the request-side twin of the response's back-pressure in
`upstream.py`). A body the exchange gives up on (`close`) drops whatever still arrives.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

WINDOW_BYTES = 256 * 1024
STREAM_FROM_BYTES = 64 * 1024  # smaller bodies are read whole and sent with their head in one write


def streams(method_cacheable: bool, declared: int) -> bool:
    """Is this body passed through as it arrives? Forwarded methods with a Content-Length above
    STREAM_FROM_BYTES (`declared`: the parser's `RequestParser.declared`; chunked bodies, CHUNKED = -1,
    are read whole and sent with an exact Content-Length)."""
    return not method_cacheable and declared > STREAM_FROM_BYTES


class BodyStream:
    def __init__(self, declared: int, hold: Callable[[bool], None], window: int = WINDOW_BYTES) -> None:
        self.declared = declared  # the Content-Length sent upstream
        self.hold = hold
        self.window = window
        self.pieces: deque[bytes] = deque()
        self.held = 0
        self.holding = False
        self.ended = False
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None

    def feed(self, data: bytes) -> None:
        if self.closed:
            return
        self.pieces.append(data)
        self.held += len(data)
        if self.held > self.window and not self.holding:
            self.holding = True
            self.hold(True)
        self._wake()

    def end(self) -> None:
        self.ended = True
        self._wake()

    def close(self) -> None:
        """The exchange stopped taking the body (an early answer, a failed upstream): drop the rest."""
        self.closed = True
        self.pieces.clear()
        self.held = 0
        self._release()
        self._wake()

    async def next(self) -> bytes | None:
        """The next piece, None at the end of the body (or once closed)."""
        while not self.pieces and not (self.ended or self.closed):
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if not self.pieces:
            return None
        piece = self.pieces.popleft()
        self.held -= len(piece)
        if self.holding and self.held <= self.window // 2:
            self._release()
        return piece

    def _release(self) -> None:
        if self.holding:
            self.holding = False
            self.hold(False)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
