"""QoS run parameters and the send schedule they imply (pure; the random generator is injected)."""

from __future__ import annotations

import math
import random
import re
from dataclasses import asdict, dataclass
from typing import Any

from services.common.probe import HEADER_LEN

MAX_DATAGRAM = 65507


class QosConfigError(ValueError):
    """Parameters that do not make a run; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class QosConfig:
    host: str
    port: int
    count: int | None = 100            # probes to send (None: use duration_s)
    duration_s: float | None = None    # alternative to count
    interval_s: float = 0.01           # mean gap between probes (per burst when burst > 1)
    size: int = HEADER_LEN             # UDP payload bytes (48-byte header + padding)
    poisson: bool = False              # exponential gaps with mean interval_s
    burst: int = 1                     # probes sent back to back per slot; slots are burst × interval apart
    tos: int = 0                       # IP TOS byte (DSCP << 2)
    wait_s: float | None = None        # after the last send; None = max(3 × RTT p99, 1 s)
    seed: int | None = None            # for Poisson spacing and the test id
    spin_s: float = 0.0002             # busy-wait the last part of each gap (hybrid sleep + spin)
    max_lag_s: float = 0.001           # catch up at most this much schedule after a stall, skip the rest
    family: str = "auto"               # address family of the target: auto (resolver's order), 4 or 6

    def validate(self) -> QosConfig:
        if self.count is None and self.duration_s is None:
            raise QosConfigError("count", "give a count or a duration")
        if self.count is not None and self.count < 1:
            raise QosConfigError("count", "must be at least 1")
        if self.duration_s is not None and self.duration_s <= 0:
            raise QosConfigError("duration", "must be positive")
        if self.count is None and self.interval_s <= 0:
            raise QosConfigError("interval", "a duration needs a positive interval or rate")
        if not 0 <= self.interval_s <= 60:
            raise QosConfigError("interval", "must be between 0 and 60 s")
        if not HEADER_LEN <= self.size <= MAX_DATAGRAM:
            raise QosConfigError("size", f"must be between {HEADER_LEN} and {MAX_DATAGRAM} bytes")
        if self.burst < 1:
            raise QosConfigError("burst", "must be at least 1")
        if not 0 <= self.tos <= 255:
            raise QosConfigError("tos", "must be 0-255 (DSCP × 4)")
        if self.wait_s is not None and self.wait_s < 0:
            raise QosConfigError("wait", "must not be negative")
        if self.family not in ("auto", "4", "6"):
            raise QosConfigError("family", "must be auto, 4 or 6 (both runs one test per family)")
        return self

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_rate(text: str, size: int) -> float:
    """A probe rate (`1000pps`, `2kpps`, `10mbit`, `512kbps`, `1Mbit/s`) → interval in seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?)(pps|bit|bps|bit/s|b/s)\s*", text.lower())
    if not match:
        raise ValueError(f"invalid rate {text!r} (examples: 1000pps, 10mbit, 512kbps)")
    value = float(match.group(1)) * {"": 1, "k": 1e3, "m": 1e6, "g": 1e9}[match.group(2)]
    if value <= 0:
        raise ValueError(f"invalid rate {text!r}: must be positive")
    if match.group(3) == "pps":
        return 1.0 / value
    return size * 8 / value


def slot_count(config: QosConfig) -> int:
    """Probes a fixed-spacing run sends: `count`, or duration / interval (at least 1)."""
    if config.count is not None:
        return config.count
    assert config.duration_s is not None
    if config.interval_s <= 0:
        raise QosConfigError("interval", "a duration needs a positive interval or rate")
    return max(1, round(config.duration_s / config.interval_s))


def schedule_ns(config: QosConfig, rng: random.Random) -> list[int]:
    """Send offsets from the start of the run, one per probe, non-decreasing."""
    interval_ns = config.interval_s * 1e9
    slot_gap_ns = interval_ns * config.burst
    offsets: list[int] = []
    limit_ns = math.inf if config.duration_s is None or config.count else config.duration_s * 1e9
    total = slot_count(config) if not config.poisson or config.count else math.inf
    at = 0.0
    while len(offsets) < total and at < limit_ns:
        for _ in range(config.burst):
            offsets.append(int(at))
        if config.poisson and slot_gap_ns > 0:
            at += rng.expovariate(1.0 / slot_gap_ns)
        else:
            at += slot_gap_ns
    if total != math.inf:
        del offsets[int(total):]
    return offsets
