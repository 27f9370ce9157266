"""The host's view of the serial console: keep it all for parsing, echo it without the row lines."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TextIO

from netem.vm.channel import Channel


class Console(io.StringIO):
    """Keeps the whole console for parsing; echoes it to `echo` except the row lines of `channels`."""

    def __init__(self, echo: TextIO, channels: Sequence[Channel]) -> None:
        super().__init__()
        self.echo = echo
        self.markers = tuple(c.row for c in channels)

    def write(self, text: str) -> int:
        if not any(marker in text for marker in self.markers):
            self.echo.write(text)
            self.echo.flush()
        return super().write(text)
