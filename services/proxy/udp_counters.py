"""UDP relay counters shared between the relay processes and the main (HTTP) process: one fixed slot per
relay process in an anonymous shared mapping (inherited across fork). A relay publishes its totals a few
times a second, and at once when the main process asks (`udp_workers.RelayProcesses.stats`), so
`/_proxy/stats` and `/metrics` are exact when read; its per-session rows go into the slot's own area."""

from __future__ import annotations

import json
import mmap
import struct
import time
from typing import Any

COUNTERS = ("sessions", "sessions_expired", "sessions_evicted", "fd_exhausted", "upstream_errors",
            "client_errors", "dropped", "packets_up_total", "packets_down_total", "packets_up_active",
            "packets_down_active")
# per slot: publication time (time.monotonic, system-wide on Linux), pid, then the counters
_SLOT = struct.Struct(f"<dq{len(COUNTERS)}q")
_ROWS_LEN = struct.Struct("<I")
ROWS_BYTES = 32768  # per worker: its per-session rows as JSON (as many as fit)
PUBLISH_INTERVAL_S = 0.2
MAX_ROWS = 100


class SharedCounters:
    """`workers` slots of counters (and per-session rows) in memory shared by the main process and its
    forked relay processes."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._stride = _SLOT.size + _ROWS_LEN.size + ROWS_BYTES
        self._mem = mmap.mmap(-1, self._stride * workers)

    def publish(self, index: int, pid: int, counters: dict[str, int],
                rows: list[dict[str, Any]] | None = None) -> None:
        """A worker's totals; with `rows`, its per-session rows too (the first ones that fit)."""
        base = index * self._stride
        if rows is not None:
            data = json.dumps(rows, separators=(",", ":")).encode()
            while len(data) > ROWS_BYTES and rows:
                rows = rows[:len(rows) // 2]
                data = json.dumps(rows, separators=(",", ":")).encode()
            start = base + _SLOT.size
            self._mem[start + _ROWS_LEN.size:start + _ROWS_LEN.size + len(data)] = data
            _ROWS_LEN.pack_into(self._mem, start, len(data))
        _SLOT.pack_into(self._mem, base, time.monotonic(), pid, *(int(counters[name]) for name in COUNTERS))

    def read(self, index: int) -> tuple[float, int, dict[str, int]]:
        """(publication time or 0.0 if never published, pid, counters) of one worker's slot."""
        published, pid, *values = _SLOT.unpack_from(self._mem, index * self._stride)
        return published, pid, dict(zip(COUNTERS, values, strict=True))

    def rows(self, index: int) -> list[dict[str, Any]]:
        start = index * self._stride + _SLOT.size
        (length,) = _ROWS_LEN.unpack_from(self._mem, start)
        if not length:
            return []
        rows: list[dict[str, Any]] = json.loads(self._mem[start + _ROWS_LEN.size:start + _ROWS_LEN.size
                                                          + length])
        return rows

    def aggregate(self) -> dict[str, Any]:
        """Every counter summed over the workers and their per-session rows (at most `MAX_ROWS`); with
        more than one worker also `workers` and `per_worker` (each one's counters, pid and the age of its
        snapshot, `null` = never published)."""
        now = time.monotonic()
        rows: list[dict[str, Any]] = []
        sessions: list[dict[str, Any]] = []
        for index in range(self.workers):
            published, pid, counters = self.read(index)
            age = round(now - published, 3) if published else None
            rows.append({"worker": index, "pid": pid, "age_s": age, **counters})
            sessions += self.rows(index)
        totals: dict[str, Any] = {name: sum(int(row[name]) for row in rows) for name in COUNTERS}
        totals["per_session"] = sessions[:MAX_ROWS]
        if self.workers > 1:
            totals.update(workers=self.workers, per_worker=rows)
        return totals

    def close(self) -> None:
        self._mem.close()
