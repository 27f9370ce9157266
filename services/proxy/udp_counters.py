"""UDP relay counters shared between `--udp-workers` processes: one fixed slot per worker in an anonymous
shared mapping (inherited across fork). Each extra worker publishes its totals a few times a second; the
worker that answers `/_proxy/stats` adds its own live counters to the others' last published ones."""

from __future__ import annotations

import mmap
import struct
import time
from typing import Any

COUNTERS = ("sessions", "sessions_expired", "sessions_evicted", "fd_exhausted", "upstream_errors",
            "client_errors", "dropped", "packets_up_total", "packets_down_total", "packets_up_active",
            "packets_down_active")
# per slot: publication time (time.monotonic, system-wide on Linux), pid, then the counters
_SLOT = struct.Struct(f"<dq{len(COUNTERS)}q")
PUBLISH_INTERVAL_S = 0.2


class SharedCounters:
    """`workers` slots of counters in memory shared by the parent and its forked relay workers."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._mem = mmap.mmap(-1, _SLOT.size * workers)

    def publish(self, index: int, pid: int, counters: dict[str, int]) -> None:
        _SLOT.pack_into(self._mem, index * _SLOT.size, time.monotonic(), pid,
                        *(int(counters[name]) for name in COUNTERS))

    def read(self, index: int) -> tuple[float, int, dict[str, int]]:
        """(publication time or 0.0 if never published, pid, counters) of one worker's slot."""
        published, pid, *values = _SLOT.unpack_from(self._mem, index * _SLOT.size)
        return published, pid, dict(zip(COUNTERS, values, strict=True))

    def aggregate(self, index: int, local: dict[str, Any]) -> dict[str, Any]:
        """`local` (the stats of worker `index`, live) with every counter summed over all workers, plus
        `workers` and `per_worker` (each worker's counters and the age of its published snapshot)."""
        now = time.monotonic()
        rows: list[dict[str, Any]] = []
        for other in range(self.workers):
            if other == index:
                rows.append({"worker": other, "age_s": 0.0, **{name: int(local[name]) for name in COUNTERS}})
                continue
            published, pid, counters = self.read(other)
            age = round(now - published, 3) if published else None  # None: not published yet
            rows.append({"worker": other, "pid": pid, "age_s": age, **counters})
        totals = {name: sum(int(row[name]) for row in rows) for name in COUNTERS}
        return {**local, **totals, "workers": self.workers, "per_session_worker": index, "per_worker": rows}

    def close(self) -> None:
        self._mem.close()
