"""Configured vs measured per window (pure): a raw recording against the link's timeline.

The timeline is the CSV the netem replayer appends while a trace plays (`netem-timeline.csv` beside the
results, docs/traces.md): one row per change of one link end, with the end's whole setting from then on.
Per window of the raw recording (by wall clock) this gives, per direction, the configured one-way delay
(the sum over the direction's ends), loss (1 − the product of deliveries) and rate (the narrowest end),
beside what the probes measured: median one-way delay, loss and the received rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.client.qos.metrics import percentile

# The timeline file's header; netem/traces/timeline.py writes it (a unit test checks both agree).
TIMELINE_COLUMNS = ("wall_ns", "due_wall_ns", "late_us", "service", "link", "direction", "to", "delay_us",
                    "jitter_us", "loss_pct", "rate_bps")
DIRECTIONS = ("up", "down")
Row = Mapping[str, str]
Ends = Mapping[tuple[str, str, str], list[tuple[int, Row]]]


@dataclass(frozen=True)
class Setting:
    delay_ms: float
    loss_pct: float
    rate_bps: float | None  # None: not limited


@dataclass(frozen=True)
class Window:
    start_s: float  # since the first probe
    start_wall_ns: int
    configured: Mapping[str, Setting]  # per direction, in force at the window's middle
    owd_ms: Mapping[str, float]  # measured median per direction (NaN: none)
    loss_pct: float  # measured, both directions
    received_bps: float  # UDP payload of the replies that arrived in the window

    @property
    def configured_loss_pct(self) -> float:
        """Round trip: a probe is lost when either way loses it."""
        up, down = self.configured["up"].loss_pct, self.configured["down"].loss_pct
        return 100 - (100 - up) * (100 - down) / 100


class TimelineError(ValueError):
    """A timeline file without the expected columns."""


def _float(text: str | None) -> float | None:
    return float(text) if text not in (None, "") else None


def end_changes(rows: Sequence[Row], to: str = "") -> dict[tuple[str, str, str], list[tuple[int, Row]]]:
    """(service, link, direction) → [(wall_ns, row), …] sorted; only rows for destination `to`."""
    if rows and not set(TIMELINE_COLUMNS) <= set(rows[0]):
        raise TimelineError(f"not a netem timeline (columns {', '.join(TIMELINE_COLUMNS)})")
    ends: dict[tuple[str, str, str], list[tuple[int, Row]]] = {}
    for row in rows:
        if (row.get("to") or "") == to:
            key = (row["service"], row["link"], row["direction"])
            ends.setdefault(key, []).append((int(row["wall_ns"]), row))
    for changes in ends.values():
        changes.sort(key=lambda item: item[0])
    return ends


def _in_force(changes: list[tuple[int, Row]], wall_ns: int) -> Row | None:
    current = None
    for at, row in changes:
        if at > wall_ns:
            break
        current = row
    return current


def configured(ends: Ends, wall_ns: int) -> dict[str, Setting]:
    """Per direction, what the ends in force at `wall_ns` add up to."""
    out = {}
    for direction in DIRECTIONS:
        delay, delivered, rate = 0.0, 1.0, None
        for (_, _, d), changes in ends.items():
            row = _in_force(changes, wall_ns) if d == direction else None
            if row is None:
                continue
            delay += (_float(row["delay_us"]) or 0.0) / 1000
            delivered *= 1 - (_float(row["loss_pct"]) or 0.0) / 100
            end_rate = _float(row["rate_bps"])
            if end_rate is not None:
                rate = end_rate if rate is None else min(rate, end_rate)
        out[direction] = Setting(delay, 100 * (1 - delivered), rate)
    return out


def _median(values: list[float]) -> float:
    return percentile(sorted(values), 50)


def windows(raw: Sequence[Row], timeline: Sequence[Row], window_s: float, to: str = "") -> list[Window]:
    """The raw recording cut into windows of `window_s` by send time, each with the link's setting."""
    probes = [r for r in raw if r.get("send_wall_ns")]
    if not probes:
        return []
    ends = end_changes(timeline, to)
    first = min(int(r["send_wall_ns"]) for r in probes)
    step = round(window_s * 1e9)
    count = (max(int(r["send_wall_ns"]) for r in probes) - first) // step + 1
    sent = [0] * count
    lost = [0] * count
    delays: list[dict[str, list[float]]] = [{"up": [], "down": []} for _ in range(count)]
    bits = [0.0] * count
    for row in probes:
        index = (int(row["send_wall_ns"]) - first) // step
        sent[index] += 1
        lost[index] += row.get("received") == "0"
        for direction in DIRECTIONS:
            value = _float(row.get(f"owd_{direction}_ms"))
            if value is not None:
                delays[index][direction].append(value)
        arrival = _float(row.get("arrival_wall_ns"))
        if arrival is not None and 0 <= (arrival - first) // step < count:
            bits[int((arrival - first) // step)] += 8 * (_float(row.get("size_bytes")) or 0.0)
    return [Window(i * window_s, first + i * step, configured(ends, first + i * step + step // 2),
                   {d: _median(delays[i][d]) for d in DIRECTIONS},
                   100 * lost[i] / sent[i] if sent[i] else math.nan, bits[i] / window_s)
            for i in range(count)]
