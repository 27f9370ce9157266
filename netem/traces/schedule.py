"""What a trace configures at each instant: changes at offsets, repeating with a period or holding the last.

A `Change` carries Impairment attribute values (`rate_bps`, `delay_us`, …) that override the end's static
settings from its offset on. Offsets are seconds from the trace's epoch (the instant its t = 0 is due).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from netem.traces.mahimahi import DeliveryTrace
from netem.traces.series import MIN_STEP_S, TimeSeries
from netem.traces.window import DEFAULT_WINDOW_MS, rates_bps

LINEAR_STEP_S = MIN_STEP_S  # a linear column moves by one change every 10 ms


@dataclass(frozen=True)
class Change:
    at_s: float
    values: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Schedule:
    """Changes within one period, the first at 0; `period_s` None holds the last change forever."""

    source: str
    changes: tuple[Change, ...]
    period_s: float | None

    def __post_init__(self) -> None:
        if not self.changes or self.changes[0].at_s != 0:
            raise ValueError("a schedule starts with a change at 0")
        if self.period_s is not None and self.period_s <= self.changes[-1].at_s:
            raise ValueError("the period must end after the last change")

    @property
    def offsets(self) -> list[float]:
        return [c.at_s for c in self.changes]

    def index_at(self, elapsed_s: float) -> tuple[int, int]:
        """(loop, change index) in force `elapsed_s` after the epoch (before it: the first change)."""
        if elapsed_s < 0:
            return 0, 0
        loop = 0
        if self.period_s is not None:
            loop = int(elapsed_s // self.period_s)
            elapsed_s -= loop * self.period_s
        return loop, bisect.bisect_right(self.offsets, elapsed_s + 1e-12) - 1

    def values_at(self, elapsed_s: float) -> Mapping[str, Any]:
        return self.changes[self.index_at(elapsed_s)[1]].values

    def due_after(self, elapsed_s: float) -> Iterator[tuple[float, Change]]:
        """Every change due strictly after `elapsed_s`, as (offset from the epoch, change), in order."""
        loop, index = self.index_at(elapsed_s)
        if elapsed_s < 0:
            index = -1
        while True:
            index += 1
            if index == len(self.changes):
                if self.period_s is None:
                    return
                loop, index = loop + 1, 0
            base = loop * self.period_s if self.period_s is not None else 0.0
            yield base + self.changes[index].at_s, self.changes[index]


def _dedupe(changes: list[Change]) -> tuple[Change, ...]:
    """Drop changes that set what is already in force."""
    kept = [changes[0]]
    for change in changes[1:]:
        if change.values != kept[-1].values:
            kept.append(change)
    return tuple(kept)


def from_delivery(trace: DeliveryTrace, window_ms: int = DEFAULT_WINDOW_MS) -> Schedule:
    """A Mahimahi trace as a rate per window; it repeats with the trace's period."""
    rates = rates_bps(trace, window_ms)
    changes = [Change(index * window_ms / 1000, {"rate_bps": rate}) for index, rate in enumerate(rates)]
    return Schedule(trace.source, _dedupe(changes), trace.period_ms / 1000)


def _value(column_values: tuple[Any, ...], times: tuple[float, ...], linear: bool, t: float) -> Any:
    row = bisect.bisect_right(times, t + 1e-12) - 1
    value = column_values[row]
    if not linear or row + 1 >= len(times):
        return value
    start, end = times[row], times[row + 1]
    mixed = value + (column_values[row + 1] - value) * (t - start) / (end - start)
    return round(mixed) if isinstance(value, int) else round(mixed, 6)


def _sample_times(series: TimeSeries) -> list[float]:
    times = set(series.times_s)
    if any(column.linear for column in series.columns):
        for start, end in zip(series.times_s, series.times_s[1:], strict=False):
            steps = math.floor((end - start) / LINEAR_STEP_S + 1e-9)
            times.update(round(start + k * LINEAR_STEP_S, 9) for k in range(1, steps))
    return sorted(times)


def from_series(series: TimeSeries, loop: bool = False) -> Schedule:
    """A CSV series; linear columns move every 10 ms. Looping repeats after the last row held for as
    long as the step before it (a one-row series cannot loop: it is constant)."""
    changes = [Change(t, {c.attr: _value(c.values, series.times_s, c.linear, t) for c in series.columns})
               for t in _sample_times(series)]
    period = None
    if loop and len(series.times_s) > 1:
        period = series.times_s[-1] + (series.times_s[-1] - series.times_s[-2])
    return Schedule(series.source, _dedupe(changes), period)
