"""Write-side flow control for a client transport (uvicorn's flow_control.py, trimmed)."""

from __future__ import annotations

import asyncio


class FlowControl:
    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.write_paused = False
        self._drained = asyncio.Event()
        self._drained.set()

    async def drain(self) -> None:
        await self._drained.wait()

    def pause_writing(self) -> None:
        if not self.write_paused:
            self.write_paused = True
            self._drained.clear()

    def resume_writing(self) -> None:
        if self.write_paused:
            self.write_paused = False
            self._drained.set()

    def release(self) -> None:
        """The connection is gone: wake any writer (its writes are now no-ops)."""
        self._drained.set()
