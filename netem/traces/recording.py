"""A client recording (`client qos --raw`) read back as probes: delays per direction and loss per direction.

One-way delays are taken as recorded when the run's clocks were shared (`owd_clock` = shared); otherwise
each direction is RTT/2 (the clock offset is unknown, the round trip is exact). Loss is split by
direction with the echo's count of probes received (`server_count`): between two replies, the probes the
echo counted were lost on the way back (down), the others on the way out (up). A gap that lost probes
both ways is split in order, the counted ones taken as its last; losses after the last reply count as up,
as in the client's own loss columns. Without the count every loss counts as up (`split` is False).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from netem.traces.errors import TraceError

REQUIRED = ("run_id", "seq", "send_offset_s", "received", "rtt_ms")


@dataclass(frozen=True)
class Probe:
    seq: int
    send_s: float  # since the run's first send
    send_wall_ns: int | None
    rtt_ms: float | None
    up_ms: float | None
    down_ms: float | None
    lost_up: bool = False
    lost_down: bool = False

    @property
    def received(self) -> bool:
        return self.rtt_ms is not None


@dataclass(frozen=True)
class Recording:
    source: str
    run_id: str
    label: str
    probes: tuple[Probe, ...]
    shared_clock: bool  # one-way delays are absolute; else RTT/2 each way
    split: bool  # loss split by direction from the echo's count

    @property
    def duration_s(self) -> float:
        return self.probes[-1].send_s if self.probes else 0.0

    @property
    def interval_s(self) -> float:
        gaps = sorted(b.send_s - a.send_s for a, b in zip(self.probes, self.probes[1:], strict=False))
        return gaps[len(gaps) // 2] if gaps else 0.0

    def rtts_ms(self) -> list[float]:
        return [p.rtt_ms for p in self.probes if p.rtt_ms is not None]

    def delays_ms(self, direction: str) -> list[tuple[float, float]]:
        """(send offset, one-way delay) of every probe with a delay in `direction` (up or down)."""
        pairs = ((p.send_s, p.up_ms if direction == "up" else p.down_ms) for p in self.probes)
        return [(t, d) for t, d in pairs if d is not None]

    def loss_sequence(self, direction: str) -> list[bool]:
        """Up: every probe, lost on the way out or not. Down: the probes that reached the echo."""
        if direction == "up":
            return [p.lost_up for p in self.probes]
        return [p.lost_down for p in self.probes if not p.lost_up]


def _number(row: Mapping[str, str], column: str, source: str, line: int, kind: type = float) -> float | None:
    text = (row.get(column) or "").strip()
    if not text:
        return None
    try:
        value = float(text) if kind is float else int(text)
    except ValueError:
        raise TraceError(source, line, column, text, "a number") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise TraceError(source, line, column, text, "a finite number")
    return value


def _split_losses(received: list[tuple[int, int | None]], count: int) -> dict[int, str]:
    """seq → up|down for every lost probe (received: (seq, server_count) in seq order)."""
    where: dict[int, str] = {}
    prev_seq, prev_count = -1, 0
    for seq, server_count in received:
        gap = list(range(prev_seq + 1, seq))
        down = 0 if server_count is None else min(max(server_count - prev_count - 1, 0), len(gap))
        for index, lost in enumerate(gap):
            where[lost] = "down" if index >= len(gap) - down else "up"
        prev_seq = seq
        prev_count = server_count if server_count is not None else prev_count + 1
    for lost in range(prev_seq + 1, count):
        where[lost] = "up"
    return where


def _pick_run(rows: list[tuple[int, Mapping[str, str]]], source: str,
              run_id: str | None) -> list[tuple[int, Mapping[str, str]]]:
    runs: dict[str, list[tuple[int, Mapping[str, str]]]] = {}
    for line, row in rows:
        runs.setdefault(row.get("run_id", ""), []).append((line, row))
    if run_id is not None:
        if run_id not in runs:
            raise TraceError(source, 0, "run_id", run_id, f"one of the file's runs: {', '.join(runs)}")
        return runs[run_id]
    if len(runs) > 1:
        raise TraceError(source, 0, "run_id", None, f"the file holds {len(runs)} runs; pick one with --run "
                                                    f"({', '.join(runs)})")
    return next(iter(runs.values()))


def read_recording(rows: Iterable[Mapping[str, str]], source: str, run_id: str | None = None) -> Recording:
    """Probes of one run of a raw file (rows as csv.DictReader gives them; line 1 is the header)."""
    numbered = [(index + 2, row) for index, row in enumerate(rows)]
    if not numbered:
        raise TraceError(source, 0, "(file)", "", "a raw recording with a probe in it (client qos --raw)")
    missing = [c for c in REQUIRED if c not in numbered[0][1]]
    if missing:
        raise TraceError(source, 1, missing[0], None,
                         f"a raw QoS file with columns {', '.join(REQUIRED)} (client qos --raw)")
    picked = sorted(_pick_run(numbered, source, run_id), key=lambda item: int(item[1]["seq"] or 0))
    shared = all((row.get("owd_clock") or "") == "shared" for _, row in picked)
    counted = [(line, row) for line, row in picked if (row.get("server_count") or "").strip()]
    parsed = []
    for line, row in picked:
        seq = _number(row, "seq", source, line, int)
        send = _number(row, "send_offset_s", source, line)
        if seq is None or send is None:
            column = "seq" if seq is None else "send_offset_s"
            raise TraceError(source, line, column, None, "a value in every row")
        parsed.append((line, row, int(seq), send))
    received = [(seq, _count(row, source, line)) for line, row, seq, _ in parsed
                if _number(row, "rtt_ms", source, line) is not None]
    where = _split_losses(received, len(parsed)) if counted else {}
    probes = []
    for line, row, seq, send in parsed:
        rtt = _number(row, "rtt_ms", source, line)
        up = _number(row, "owd_up_ms", source, line) if shared else (rtt / 2 if rtt is not None else None)
        down = _number(row, "owd_down_ms", source, line) if shared else (rtt / 2 if rtt is not None else None)
        wall = _number(row, "send_wall_ns", source, line, int)
        lost = rtt is None
        probes.append(Probe(seq, send, int(wall) if wall is not None else None, rtt, up, down,
                            lost_up=lost and where.get(seq, "up") == "up",
                            lost_down=lost and where.get(seq) == "down"))
    first = picked[0][1]
    return Recording(source, first.get("run_id", ""), first.get("label", ""), tuple(probes), shared,
                     bool(counted))


def _count(row: Mapping[str, str], source: str, line: int) -> int | None:
    value = _number(row, "server_count", source, line, int)
    return int(value) if value is not None else None


def windows(pairs: Sequence[tuple[float, float]], window_s: float, count: int) -> list[list[float]]:
    """Values grouped by window of their time: `count` windows of `window_s` from 0."""
    grouped: list[list[float]] = [[] for _ in range(count)]
    for t, value in pairs:
        index = int(t // window_s)
        if 0 <= index < count:
            grouped[index].append(value)
    return grouped


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
