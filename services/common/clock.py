"""An injectable clock: wall time for stamps that cross hosts, monotonic time for intervals.

Probes carry wall-clock nanoseconds (CLOCK_REALTIME) because the echo on the far side must stamp with a
clock the client can compare against; containers on one host share the kernel clock, so one-way delays
are exact there. Intervals and pacing use the monotonic clock. Tests pass a `FakeClock`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def wall_ns(self) -> int: ...

    def mono_ns(self) -> int: ...


class SleepingClock(Clock, Protocol):
    """A clock that can also wait: the real one sleeps, a fake one moves itself (no real sleeps in tests)."""

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clocks of this host."""

    def wall_ns(self) -> int:
        return time.time_ns()

    def mono_ns(self) -> int:
        return time.monotonic_ns()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class FakeClock:
    """A clock tests move by hand; wall and monotonic advance together."""

    wall: int = 1_700_000_000_000_000_000
    mono: int = 1_000_000_000

    def wall_ns(self) -> int:
        return self.wall

    def mono_ns(self) -> int:
        return self.mono

    def advance_ns(self, delta_ns: int) -> None:
        self.wall += delta_ns
        self.mono += delta_ns

    def sleep(self, seconds: float) -> None:
        """Sleeping on a fake clock moves it (never below zero), at once."""
        self.advance_ns(max(int(seconds * 1e9), 0))


SYSTEM_CLOCK = SystemClock()
