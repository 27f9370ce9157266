"""Memory back to the system after a burst (issue 25): when to release, and the release itself.

CPython keeps what it frees. Small objects live in pymalloc's 1 MiB arenas, which go back to the system
only when every object in them is gone; everything else lives in glibc's heap, which shrinks only from
its top. Reference cycles of a burst (tasks, futures, exceptions) wait for a full collection that the
allocation counters may not start for a long time. So after 8 bursts of 5,000 concurrent misses the proxy
stayed at ~100 MiB (from 26) with every connection closed. The release: `gc.collect()`, then glibc's
`malloc_trim(0)` (through ctypes), which returns the free pages of every heap arena, not just the top;
without glibc (musl, macOS) only the collection runs. It returns most when small objects are in glibc's
heap too (`PYTHONMALLOC=malloc`, see `--allocator` in cli.py): pymalloc's arenas stay while one object in
them lives, glibc gives back every free page.

When (`due`, pure, the clock passed in): the open connections fell to a quarter of their peak since the
last release, that peak was at least `min_peak`, and they stayed there `settle_s` (so what the burst left
behind for a while, such as pooled upstream connections past their idle timeout, is gone too); or the
store let go of `freed_bytes` since the last release. Never twice within `interval_s`. The sweep of the
connection lifecycle asks once per tick, so the release runs after the burst, not inside it. Only a
burst's release collects: a full collection walks every tracked object, the cache's entries included
(≈ 300 ms with 100,000 stored entries), while what the store lets go of is freed at once by its
reference count, so after evictions the trim alone (≈ 0.1 ms) is enough — a cache turning over under
steady load must not stall the event loop every `interval_s`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from services.common import log


@dataclass(frozen=True, slots=True)
class ReleasePolicy:
    min_peak: int = 256                # connections: a burst worth releasing after
    settle_s: float = 5.0              # ... once they stayed below a quarter of it this long
    freed_bytes: int = 16 * 1024 * 1024  # cache bytes let go of (evicted, replaced, purged)
    interval_s: float = 5.0            # at most one release per interval


class Why(enum.Enum):
    BURST = "burst"  # the connections of a burst are gone: collect their cycles, then trim
    FREED = "freed"  # the store let go of bytes: trim only


@dataclass(slots=True)
class ReleaseState:
    peak: int = 0           # open connections, highest since the last release
    freed_at: int = 0       # the store's freed-bytes counter at the last release
    released_at: float = float("-inf")
    quiet_since: float | None = None  # since when the connections stay at or below a quarter of the peak


def due(policy: ReleasePolicy, state: ReleaseState, connections: int, freed_total: int,
        now: float) -> Why | None:
    """Is a release due now, and why? (Updates the peak and since when the burst is over.)"""
    state.peak = max(state.peak, connections)
    over = state.peak >= policy.min_peak and connections * 4 <= state.peak
    if not over:
        state.quiet_since = None
    elif state.quiet_since is None:
        state.quiet_since = now
    if now - state.released_at < policy.interval_s:
        return None
    if state.quiet_since is not None and now - state.quiet_since >= policy.settle_s:
        return Why.BURST
    return Why.FREED if freed_total - state.freed_at >= policy.freed_bytes else None


def _libc_trim() -> Callable[[], int] | None:
    """glibc's malloc_trim(0), or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


def rss_bytes() -> int:
    """This process's resident set (Linux /proc), 0 where unknown."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
    except OSError:
        return 0
    return int(fields[1]) * 4096


class Release:
    """Asked once per sweep tick with the open connections and the store's freed bytes; releases when due."""

    def __init__(self, policy: ReleasePolicy = ReleasePolicy(), *,
                 trim: Callable[[], int] | None = None, collect: Callable[[], int] = gc.collect,
                 rss: Callable[[], int] = rss_bytes, clock: Callable[[], float] = time.perf_counter,
                 use_libc: bool = True) -> None:
        """`trim`: the allocator's trim (default glibc's malloc_trim when `use_libc`); tests pass fakes."""
        self.policy = policy
        self.state = ReleaseState()
        self.trim = trim if trim is not None or not use_libc else _libc_trim()
        self.collect = collect
        self.rss = rss
        self.clock = clock
        self.releases = 0

    def observe(self, connections: int, freed_total: int, now: float) -> bool:
        why = due(self.policy, self.state, connections, freed_total, now)
        if why is None:
            return False
        self.release(why, connections, freed_total, now)
        return True

    def release(self, why: Why, connections: int, freed_total: int, now: float) -> None:
        before, started = self.rss(), self.clock()
        objects = self.collect() if why is Why.BURST else 0
        if self.trim is not None:
            self.trim()
        after = self.rss()
        self.releases += 1
        self.state = ReleaseState(peak=connections, freed_at=freed_total, released_at=now)
        log.event("proxy.memory_released", why=why.value, rss_before=before, rss_after=after,
                  collected=objects, trimmed=self.trim is not None,
                  took_ms=round((self.clock() - started) * 1000, 1))
