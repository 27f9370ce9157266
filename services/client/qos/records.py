"""What a QoS run records, and nothing more: statistics are derived afterwards (`analyze`, `metrics`).

The sender appends one entry per probe it sent; the collector appends one `Arrival` per valid
reply and counts everything else. Times:
- `*_mono_ns` are CLOCK_MONOTONIC (pacing, RTT),
- `*_wall_ns` are CLOCK_REALTIME (what the echo can compare against: one-way delays).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple


class Arrival(NamedTuple):
    """One reply datagram that belongs to this run (duplicates included). A tuple: cheap to build."""

    seq: int
    mono_ns: int          # arrival on the monotonic clock (kernel stamp mapped onto it when available)
    wall_ns: int          # arrival on the wall clock (kernel SO_TIMESTAMPNS when available)
    size: int             # datagram bytes (UDP payload)
    server_recv_ns: int = 0   # echo wall clock at receive; 0 = not stamped
    server_send_ns: int = 0   # echo wall clock at send; 0 = not stamped
    server_count: int | None = None  # probes of this test the echo had received, this one included


@dataclass
class SendLog:
    """Parallel arrays indexed by sequence number (seq i is the i-th probe sent)."""

    sched_mono_ns: list[int] = field(default_factory=list)
    mono_ns: list[int] = field(default_factory=list)
    wall_ns: list[int] = field(default_factory=list)
    missed: int = 0          # slots skipped because the sender was a whole slot late
    errors: int = 0          # sendto failures (e.g. ICMP unreachable reported on a connected socket)

    def __len__(self) -> int:
        return len(self.mono_ns)


@dataclass
class Recorder:
    """Everything a run saw. Appends only; the sender and the collector write disjoint fields."""

    sends: SendLog = field(default_factory=SendLog)
    arrivals: list[Arrival] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)  # malformed/foreign datagrams by reason
    recv_errors: int = 0
    kernel_timestamps: bool = False
