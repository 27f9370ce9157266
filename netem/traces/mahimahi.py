"""Mahimahi packet-delivery traces (mm-link): one integer millisecond timestamp per line.

Each line is one delivery opportunity for a packet of up to 1500 bytes at that millisecond; several lines
may share a millisecond. When the trace ends it starts again, shifted by its last timestamp, so the last
timestamp is the period (mm-link's `link_queue.cc` does the same).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netem.traces.errors import TraceError

OPPORTUNITY_BYTES = 1500
_STAMP = re.compile(r"\d+")
MAX_STAMP_MS = 2**31 - 1


@dataclass(frozen=True)
class DeliveryTrace:
    """Delivery opportunities (ms offsets, non-decreasing) of one period."""

    source: str
    stamps_ms: tuple[int, ...]

    @property
    def period_ms(self) -> int:
        return self.stamps_ms[-1]

    def mean_rate_bps(self) -> float:
        """Opportunities per period × 1500 bytes, in bits per second."""
        return len(self.stamps_ms) * OPPORTUNITY_BYTES * 8 / (self.period_ms / 1000)


def is_mahimahi(first_line: str) -> bool:
    """Content detection: a Mahimahi trace's first data line is a bare integer."""
    return _STAMP.fullmatch(first_line.strip()) is not None


def parse_mahimahi(text: str, source: str) -> DeliveryTrace:
    """Parse a trace; blank lines are skipped, anything else must be a non-decreasing integer."""
    stamps: list[int] = []
    previous_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if not _STAMP.fullmatch(line) or int(line) > MAX_STAMP_MS:
            raise TraceError(source, number, "timestamp", line,
                             "one whole number of milliseconds per line (a Mahimahi delivery trace)")
        stamp = int(line)
        if stamps and stamp < stamps[-1]:
            raise TraceError(source, number, "timestamp", stamp,
                             f"timestamps must not decrease (line {previous_line} has {stamps[-1]})")
        stamps.append(stamp)
        previous_line = number
    if not stamps:
        raise TraceError(source, 0, "(file)", "", "at least one delivery opportunity (the trace is empty)")
    if stamps[-1] == 0:
        raise TraceError(source, previous_line, "timestamp", 0,
                         "the last timestamp is the trace's period and must be > 0 ms")
    return DeliveryTrace(source, tuple(stamps))
