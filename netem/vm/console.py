"""Structured rows from the VM to the host over the serial console (pure, apart from the echo).

The guest prints each row as `MARKER {json}` and then `COUNT_MARKER=N`; the host keeps the rows, checks
that as many arrived intact as were announced, and echoes every other console line to the user.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class Channel:
    """One kind of row: `row` marks each row line, `count` the closing count line."""

    row: str  # e.g. "QOSLAB-SCENARIO-ROW "
    count: str  # e.g. "QOSLAB-SCENARIO-ROWS="

    def row_line(self, row: dict[str, Any]) -> str:
        return self.row + json.dumps(row, default=str, sort_keys=True)

    def count_line(self, count: int) -> str:
        return f"{self.count}{count}"

    def parse(self, text: str) -> tuple[list[dict[str, Any]], int | None]:
        """Console text → (the rows behind the row marker, the announced count or None)."""
        rows: list[dict[str, Any]] = []
        count: int | None = None
        for line in text.splitlines():
            _, sep, tail = line.partition(self.row)
            if sep:
                try:
                    row = json.loads(tail)
                except json.JSONDecodeError:
                    continue  # a line mangled by a kernel message: the count check reports it
                if isinstance(row, dict):
                    rows.append(row)
                continue
            _, sep, tail = line.partition(self.count)
            if sep and tail.strip().isascii() and tail.strip().isdigit():
                count = int(tail.strip())
        return rows, count


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
