"""Replay schedules on time: one change per due instant, each change's lateness recorded.

Each change is prepared (its netlink messages encoded) before its instant, so at the instant only the
send and the kernel's work remain; lateness is kept twice: due → sent (the wake-up) and due → landed.

Pure: the clock, the wait and the apply step are passed in. Due times are on the wall clock (the epoch
is a wall-clock instant, so every container on a host, or every host with synchronised clocks, changes
in step); waiting is on the monotonic clock. When the replayer falls behind so far that later changes are
already due, it applies the latest one per end and counts the others as skipped, never bursting through
stale ones.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from netem.traces.schedule import Schedule

Values = Mapping[str, Any]
Batch = dict[str, Values]  # end label → the values it takes
MAX_SAMPLES = 1_000_000


class Clock(Protocol):
    def wall_ns(self) -> int: ...

    def mono_ns(self) -> int: ...


@dataclass(frozen=True)
class Applied:
    """One batch of changes that landed: when it was due, how late it landed, what it set."""

    due_wall_ns: int
    late_ns: int
    changes: Batch
    skipped: int  # changes overtaken by a later one before they could land
    initial: bool = False  # the state in force at start-up (not timed)


@dataclass
class Lateness:
    """Lateness of every timed change (ns) and the number skipped."""

    samples: list[int] = field(default_factory=list)
    skipped: int = 0

    def add(self, late_ns: int, skipped: int) -> None:
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append(late_ns)
        self.skipped += skipped

    def percentile_us(self, q: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return float("nan")
        rank = (len(ordered) - 1) * q / 100
        low = int(rank)
        high = min(low + 1, len(ordered) - 1)
        return (ordered[low] + (ordered[high] - ordered[low]) * (rank - low)) / 1000

    def summary(self) -> dict[str, float | int]:
        return {"changes": len(self.samples), "skipped": self.skipped,
                "late_p50_us": round(self.percentile_us(50), 1),
                "late_p99_us": round(self.percentile_us(99), 1),
                "late_max_us": round(max(self.samples, default=0) / 1000, 1)}


def _stream(end: str, schedule: Schedule, after_s: float) -> Iterator[tuple[float, str, Values]]:
    for due, change in schedule.due_after(after_s):
        yield due, end, change.values


def _events(schedules: Mapping[str, Schedule], after_s: float) -> Iterator[tuple[float, str, Values]]:
    streams = [_stream(end, schedule, after_s) for end, schedule in schedules.items()]
    return heapq.merge(*streams, key=lambda event: event[0])


@dataclass
class Replayer:
    """Replays `schedules` (end label → schedule) from `epoch_wall_ns` through `apply`."""

    schedules: Mapping[str, Schedule]
    apply: Callable[[Any], None]  # takes what `prepare` made of a batch (the batch itself by default)
    clock: Clock
    wait_until_mono: Callable[[int], None]
    epoch_wall_ns: int
    on_applied: Callable[[Applied], None] = lambda applied: None
    lateness: Lateness = field(default_factory=Lateness)  # due → landed (the kernel acknowledged it)
    prepare: Callable[[Batch], Any] = lambda batch: batch  # e.g. encode the messages before the instant
    sent: Lateness = field(default_factory=Lateness)  # due → sent: the wake-up alone

    def _initial(self, elapsed_s: float) -> None:
        batch = {end: schedule.values_at(max(elapsed_s, 0.0)) for end, schedule in self.schedules.items()}
        self.apply(self.prepare(batch))
        self.on_applied(Applied(self.clock.wall_ns(), 0, batch, 0, initial=True))

    def run(self, stop: Callable[[], bool] = lambda: False, until_wall_ns: int | None = None) -> Lateness:
        """Apply the state in force now, then every later change on time until `until_wall_ns` or `stop()`."""
        offset_ns = self.clock.wall_ns() - self.clock.mono_ns()  # wall = mono + offset
        elapsed_s = (self.clock.wall_ns() - self.epoch_wall_ns) / 1e9
        self._initial(elapsed_s)
        events = _events(self.schedules, max(elapsed_s, 0.0))
        pending = next(events, None)
        while pending is not None and not stop():
            due_wall = self.epoch_wall_ns + round(pending[0] * 1e9)
            if until_wall_ns is not None and due_wall > until_wall_ns:
                break
            batch: Batch = {}
            while pending is not None and self.epoch_wall_ns + round(pending[0] * 1e9) == due_wall:
                batch[pending[1]] = pending[2]  # every end changing at this instant, in one batch
                pending = next(events, None)
            token = self.prepare(batch)  # the work that can be done before the instant is done before it
            self.wait_until_mono(due_wall - offset_ns)
            if stop():
                break
            skipped = 0
            now_wall = self.clock.mono_ns() + offset_ns
            while pending is not None and self.epoch_wall_ns + round(pending[0] * 1e9) <= now_wall:
                skipped += pending[1] in batch
                due_wall = self.epoch_wall_ns + round(pending[0] * 1e9)
                batch[pending[1]] = pending[2]
                pending = next(events, None)
                token = None
            if token is None:
                token = self.prepare(batch)
            self.sent.add(self.clock.mono_ns() + offset_ns - due_wall, 0)
            self.apply(token)
            late_ns = self.clock.mono_ns() + offset_ns - due_wall
            self.lateness.add(late_ns, skipped)
            self.on_applied(Applied(due_wall, late_ns, batch, skipped))
        return self.lateness
