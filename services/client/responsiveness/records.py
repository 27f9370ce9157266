"""What a responsiveness run records, and nothing more (statistics come later, in `analyze`).

Times are CLOCK_MONOTONIC nanoseconds; `Records.start_mono_ns` is the test's time zero. The UDP probes
reuse the QoS recorder (`services.client.qos.records`), so a probe is stamped and matched exactly as in
`qos`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

from services.client.qos.records import Recorder


class ForeignProbe(NamedTuple):
    """One GET of a small object on a fresh connection (the draft's foreign probe)."""

    start_ns: int      # before connect
    tcp_ns: int        # TCP handshake (tcp_f); -1 when the connect failed
    http_ns: int       # request written → whole response (http_f); -1 when it failed
    status: int        # HTTP status; 0 when none
    error: str = ""


class SelfSample(NamedTuple):
    """The TCP stack's RTT estimate of one load-generating connection (the draft's self probe)."""

    at_ns: int
    flow: int
    direction: str     # down | up
    rtt_us: int


class ByteSample(NamedTuple):
    """Payload bytes moved so far by all load connections of each direction."""

    at_ns: int
    down_bytes: int
    up_bytes: int


@dataclass
class Records:
    start_mono_ns: int
    start_wall_ns: int
    udp: Recorder = field(default_factory=Recorder)
    foreign: list[ForeignProbe] = field(default_factory=list)
    self_samples: list[SelfSample] = field(default_factory=list)
    bytes: list[ByteSample] = field(default_factory=list)
    load_errors: Counter[str] = field(default_factory=Counter)  # per kind: refused, reset, http_413 …
    flows_opened: Counter[str] = field(default_factory=Counter)  # per direction
    udp_error: str = ""  # why there are no UDP probes, if there are none
