"""A packet-delivery trace → one rate per window, the form netem can replay.

netem paces packets at a rate; it cannot release single 1500-byte opportunities at given milliseconds.
So the trace is cut into windows of W and each window's opportunities become a rate:
opportunities × 1500 B × 8 / W. Over each window the same bytes are delivered as in the trace, so the
cumulative delivery curves meet at every window boundary and no packet leaves more than about W away
from its time in the trace.

Why 20 ms by default (10 ms – 1 s allowed): cellular traces deliver in bursts a few milliseconds apart
(LTE schedules every 1 ms and grants come in clumps), so a window under ~10 ms swings between 0 and a
burst and its "rate" means nothing; a 20 ms window already averages several grants, keeps the timing
error under one window (well below a cellular RTT of 40-100 ms, so a TCP sender reacts to the same
capacity changes), and asks for 50 netlink changes per second per end, far below what a change costs
(< 1 ms). Longer windows (50-100 ms) smooth a noisy trace further and lose short outages.

A window without a single opportunity (an outage) is replayed at the floor of one opportunity per
window (600 kbit/s at 20 ms): netem has no "stop" (rate 0 means unlimited), and a packet queued at a
tiny rate would keep its late departure after the capacity comes back. `WindowSummary.empty` counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from netem.traces.mahimahi import OPPORTUNITY_BYTES, DeliveryTrace

DEFAULT_WINDOW_MS = 20
MIN_WINDOW_MS = 10
MAX_WINDOW_MS = 1000


@dataclass(frozen=True)
class WindowSummary:
    windows: int
    empty: int
    min_bps: int
    median_bps: int
    max_bps: int
    mean_bps: float


def window_counts(trace: DeliveryTrace, window_ms: int) -> list[int]:
    """Opportunities per window over one period (the last window may be shorter).

    A stamp equal to the period belongs to the next loop's first window, as in mm-link."""
    period = trace.period_ms
    counts = [0] * math.ceil(period / window_ms)
    for stamp in trace.stamps_ms:
        if stamp < period:
            counts[stamp // window_ms] += 1
        else:  # == period: the start of the next loop
            counts[0] += 1
    return counts


def window_lengths_ms(period_ms: int, window_ms: int) -> list[int]:
    full, rest = divmod(period_ms, window_ms)
    return [window_ms] * full + ([rest] if rest else [])


def rates_bps(trace: DeliveryTrace, window_ms: int = DEFAULT_WINDOW_MS) -> list[int]:
    """One rate per window (bits per second), at least one opportunity per window (see the module doc)."""
    if not MIN_WINDOW_MS <= window_ms <= MAX_WINDOW_MS:
        raise ValueError(f"window {window_ms} ms: allowed {MIN_WINDOW_MS}-{MAX_WINDOW_MS} ms")
    counts = window_counts(trace, window_ms)
    lengths = window_lengths_ms(trace.period_ms, window_ms)
    bits = OPPORTUNITY_BYTES * 8
    return [round(max(count, 1) * bits * 1000 / length)
            for count, length in zip(counts, lengths, strict=True)]


def summary(trace: DeliveryTrace, window_ms: int = DEFAULT_WINDOW_MS) -> WindowSummary:
    counts = window_counts(trace, window_ms)
    rates = sorted(rates_bps(trace, window_ms))
    return WindowSummary(len(rates), sum(1 for c in counts if c == 0), rates[0], rates[len(rates) // 2],
                         rates[-1], trace.mean_rate_bps())
