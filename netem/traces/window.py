"""A packet-delivery trace → one rate per window, the form netem can replay.

netem paces packets at a rate; it cannot release single 1500-byte opportunities at given milliseconds.
So each opportunity's capacity (one packet) is spread over the time since the opportunity before it —
the trace's cumulative delivery curve, drawn straight between opportunities — and each window of W
gets the rate of the capacity that falls into it: share × 1500 B × 8 / W. Opportunities sharing a
millisecond fall whole into their window. A dense trace thus gets exactly its opportunities per window;
a sparse one (one opportunity every 40 ms, 300 kbit/s) its true rate rather than 0 and 1 in turn; an
outage a rate that delivers its next opportunity where the trace does (a 500 ms gap: 24 kbit/s), never
rate 0, which netem reads as unlimited. The replayed curve stays within one window of the trace's.

Why 20 ms by default (10 ms – 1 s allowed): cellular traces deliver in bursts a few milliseconds apart
(LTE schedules every 1 ms and grants come in clumps), so a window under ~10 ms swings between nothing and a
burst; a 20 ms window already averages several grants, keeps the timing error under one window (well
below a cellular RTT of 40-100 ms, so a TCP sender reacts to the same capacity changes), and asks for 50
netlink changes per second per end, far below what a change costs. Longer windows (50-100 ms) smooth a
noisy trace further and blur short outages.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from netem.traces.mahimahi import OPPORTUNITY_BYTES, DeliveryTrace

DEFAULT_WINDOW_MS = 20
MIN_WINDOW_MS = 10
MAX_WINDOW_MS = 1000
MIN_RATE_BPS = 8  # netem's rate is bytes per second and 0 means unlimited


@dataclass(frozen=True)
class WindowSummary:
    windows: int
    empty: int  # windows without an opportunity of their own (filled by the gap's spread)
    min_bps: int
    median_bps: int
    max_bps: int
    mean_bps: float


def _spread(shares: list[float], window_ms: int, start: float, end: float) -> None:
    """Add one opportunity's capacity, spread evenly over (start, end] (within one period)."""
    length = end - start
    first = min(int(start // window_ms), len(shares) - 1)
    for index in range(first, len(shares)):
        low, high = index * window_ms, (index + 1) * window_ms
        if low >= end:
            break
        overlap = min(end, high) - max(start, low)
        if overlap > 0:
            shares[index] += overlap / length


def window_shares(trace: DeliveryTrace, window_ms: int) -> list[float]:
    """Opportunities per window over one period (fractions where a gap spans windows). A stamp equal to
    the period is the next loop's first opportunity, as in mm-link."""
    period = trace.period_ms
    shares = [0.0] * math.ceil(period / window_ms)
    stamps = sorted(stamp % period for stamp in trace.stamps_ms)
    previous = stamps[-1] - period
    for stamp in stamps:
        if stamp == previous:
            shares[min(stamp // window_ms, len(shares) - 1)] += 1.0
        elif previous < 0:  # the gap wraps round the end of the period
            part = -previous / (stamp - previous)
            tail = [0.0] * len(shares)
            _spread(tail, window_ms, period + previous, period)
            shares[:] = [s + t * part for s, t in zip(shares, tail, strict=True)]
            if stamp > 0:
                head = [0.0] * len(shares)
                _spread(head, window_ms, 0, stamp)
                shares[:] = [s + h * (1 - part) for s, h in zip(shares, head, strict=True)]
            else:
                shares[0] += 1 - part
        else:
            _spread(shares, window_ms, previous, stamp)
        previous = stamp
    return shares


def window_counts(trace: DeliveryTrace, window_ms: int) -> list[int]:
    """Opportunities stamped in each window (what a window holds of its own)."""
    counts = [0] * math.ceil(trace.period_ms / window_ms)
    for stamp in trace.stamps_ms:
        counts[(stamp % trace.period_ms) // window_ms] += 1
    return counts


def window_lengths_ms(period_ms: int, window_ms: int) -> list[int]:
    full, rest = divmod(period_ms, window_ms)
    return [window_ms] * full + ([rest] if rest else [])


def rates_bps(trace: DeliveryTrace, window_ms: int = DEFAULT_WINDOW_MS) -> list[int]:
    """One rate per window (bits per second; see the module doc)."""
    if not MIN_WINDOW_MS <= window_ms <= MAX_WINDOW_MS:
        raise ValueError(f"window {window_ms} ms: allowed {MIN_WINDOW_MS}-{MAX_WINDOW_MS} ms")
    shares = window_shares(trace, window_ms)
    lengths = window_lengths_ms(trace.period_ms, window_ms)
    bits = OPPORTUNITY_BYTES * 8
    return [max(round(share * bits * 1000 / length), MIN_RATE_BPS)
            for share, length in zip(shares, lengths, strict=True)]


def summary(trace: DeliveryTrace, window_ms: int = DEFAULT_WINDOW_MS) -> WindowSummary:
    counts = window_counts(trace, window_ms)
    rates = rates_bps(trace, window_ms)
    return WindowSummary(len(rates), sum(1 for c in counts if c == 0), min(rates),
                         round(statistics.median(rates)), max(rates), trace.mean_rate_bps())
