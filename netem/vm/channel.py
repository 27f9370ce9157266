"""Structured rows from the VM to the host over the serial console: the wire format both sides share (pure).

The guest prints each row as `MARKER {json}` and then `COUNT_MARKER=N` (`Channel.row_line`,
`count_line`); the host keeps the rows and checks that as many arrived intact as were announced
(`Channel.parse`, with `netem.vm.host.console.Console` echoing every other line to the user). The other
way, the host tells every guest command its accelerator in ACCEL_USED_ENV.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ACCEL_USED_ENV = "QOSLAB_VM_ACCEL_USED"  # kvm | tcg: what the VM runs on (absent natively)


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


RESULTS = Channel("QOSLAB-VM-RESULT ", "QOSLAB-VM-RESULTS=")  # result CSV rows of a compose run
SCENARIO = Channel("QOSLAB-SCENARIO-ROW ", "QOSLAB-SCENARIO-ROWS=")  # rows of a scenario's matrix
BLOAT = Channel("QOSLAB-BLOAT-ROW ", "QOSLAB-BLOAT-ROWS=")  # per case of the queue/AQM suite: rows, series
