"""The draft's confidence in a result: did goodput and responsiveness settle? (pure)

draft-ietf-ippm-responsiveness evaluates once per interval ID (1 s): a *moving average* over the last
MAD (4) intervals, and "stable" when the standard deviation of the last MAD moving averages is within
SDT (5 %) of the current one. Confidence: **low** when fewer than MAD intervals ran, **medium** when
they ran but the values did not settle, **high** when they did. qoslab's phases have a fixed length
(crusader-style, so phases line up in the plot), so the test is applied to the intervals at the end of
each phase instead of ending the phase early.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MAD = 4          # moving average distance (intervals)
SDT = 0.05       # standard deviation tolerance
LOW, MEDIUM, HIGH = "low", "medium", "high"


def moving_averages(values: Sequence[float], mad: int = MAD) -> list[float]:
    """Mean of each value and the up to `mad` − 1 before it (NaN values are skipped)."""
    out = []
    for index in range(len(values)):
        window = [v for v in values[max(0, index - mad + 1): index + 1] if not math.isnan(v)]
        out.append(math.fsum(window) / len(window) if window else math.nan)
    return out


def is_stable(averages: Sequence[float], mad: int = MAD, sdt: float = SDT) -> bool:
    """Population standard deviation of the last `mad` averages < `sdt` × the last one."""
    tail = list(averages[-mad:])
    if len(tail) < mad or any(math.isnan(v) for v in tail):
        return False
    mean = math.fsum(tail) / len(tail)
    deviation = math.sqrt(math.fsum((v - mean) ** 2 for v in tail) / len(tail))
    return deviation < sdt * abs(tail[-1])


def confidence(per_interval: Sequence[Sequence[float]], mad: int = MAD, sdt: float = SDT) -> str:
    """Confidence of a phase from per-interval series (e.g. goodput and RPM): high only if all settled."""
    intervals = min((len(series) for series in per_interval), default=0)
    if intervals < mad:
        return LOW
    settled = all(is_stable(moving_averages(series, mad), mad, sdt) for series in per_interval)
    return HIGH if settled else MEDIUM
