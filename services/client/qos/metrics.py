"""One pure function per QoS metric (DESIGN.md section 4). Inputs are plain numbers; no I/O, no clock.

Times are integers in nanoseconds unless a name says otherwise. Percentiles interpolate linearly between
closest ranks (as numpy's default), so p50 of [1, 2, 3, 4] is 2.5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """Summary of a sample; all fields in the sample's unit. `count == 0` means no data (all NaN)."""

    count: int
    min: float
    mean: float
    median: float
    p90: float
    p95: float
    p99: float
    max: float
    stddev: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of an ascending sample, linear interpolation; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = rank - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def summarize(values: Iterable[float]) -> Stats:
    """min/mean/median/p90/p95/p99/max and population standard deviation of a sample."""
    data = sorted(values)
    if not data:
        nan = math.nan
        return Stats(0, nan, nan, nan, nan, nan, nan, nan, nan)
    mean = math.fsum(data) / len(data)
    variance = math.fsum((x - mean) ** 2 for x in data) / len(data)
    return Stats(len(data), data[0], mean, percentile(data, 50), percentile(data, 90),
                 percentile(data, 95), percentile(data, 99), data[-1], math.sqrt(variance))


def rtt_ns(send_mono_ns: int, arrival_mono_ns: int, server_recv_ns: int = 0, server_send_ns: int = 0) -> int:
    """Round-trip time with the echo's processing time (server send − server receive) taken out."""
    processing = server_send_ns - server_recv_ns if server_recv_ns and server_send_ns else 0
    return arrival_mono_ns - send_mono_ns - max(processing, 0)


def oneway_ns(sent_wall_ns: int, received_wall_ns: int) -> int:
    """One-way delay between two wall clocks (exact only if both ends share one clock)."""
    return received_wall_ns - sent_wall_ns


def jitter_rfc3550(send_ns: Sequence[int], recv_ns: Sequence[int]) -> float:
    """RFC 3550 §6.4.1 interarrival jitter after the last packet, packets in arrival order.

    D(i-1, i) = (R_i - R_{i-1}) - (S_i - S_{i-1});  J_i = J_{i-1} + (|D(i-1, i)| - J_{i-1}) / 16.
    """
    jitter = 0.0
    for i in range(1, min(len(send_ns), len(recv_ns))):
        transit_change = (recv_ns[i] - recv_ns[i - 1]) - (send_ns[i] - send_ns[i - 1])
        jitter += (abs(transit_change) - jitter) / 16.0
    return jitter


def ipdv_ns(delay_by_seq: Mapping[int, int]) -> list[int]:
    """RFC 3393 IPDV: delay(i+1) − delay(i) for every pair of consecutive sequence numbers both received."""
    return [delay_by_seq[seq + 1] - delay_by_seq[seq] for seq in sorted(delay_by_seq)
            if seq + 1 in delay_by_seq]


def pdv_ns(delays: Iterable[int]) -> list[int]:
    """RFC 5481 PDV: each delay minus the minimum delay of the run."""
    data = list(delays)
    if not data:
        return []
    low = min(data)
    return [d - low for d in data]


def lost(sent_count: int, received_seqs: Iterable[int]) -> int:
    """Probes sent (seq 0..sent_count-1) for which no reply arrived (duplicates do not make up for loss)."""
    return sent_count - len({s for s in received_seqs if 0 <= s < sent_count})


def unwrap(values: Iterable[int], bits: int = 32) -> list[int]:
    """Extend a wrapping counter (e.g. the echo's 32-bit server_count) by the shortest step, RTP style."""
    modulus, half = 1 << bits, 1 << (bits - 1)
    out: list[int] = []
    for value in values:
        if not out:
            out.append(value)
            continue
        step = (value - out[-1] + half) % modulus - half
        out.append(out[-1] + step)
    return out


def loss_by_direction(total_lost: int, server_counts: Iterable[int]) -> tuple[int, int] | None:
    """Split `total_lost` into (up, down) using the echo's per-test receive counter, or None without it.

    The echo numbers its replies 1, 2, 3, …; a count at or below the highest count seen that never
    arrived is a reply the echo sent and the client did not get (down). The rest is up-link loss
    (including losses after the last reply seen, which the client cannot attribute).
    """
    counts = set(server_counts)
    if not counts:
        return None
    down = min(max(counts) - len(counts), total_lost)
    return total_lost - down, down


def late(rtts_ns: Iterable[int], threshold_ns: int) -> int:
    """Replies that arrived, but later than the loss threshold (RFC 7680 Tmax): late, not lost."""
    return sum(1 for r in rtts_ns if r > threshold_ns)


def reordered(arrival_seqs: Sequence[int]) -> int:
    """RFC 4737: first arrivals whose sequence number is lower than one already seen (duplicates skipped)."""
    seen: set[int] = set()
    highest = -1
    count = 0
    for seq in arrival_seqs:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < highest:
            count += 1
        highest = max(highest, seq)
    return count


def duplicates(arrival_seqs: Iterable[int]) -> int:
    """Arrivals of a sequence number that had already arrived."""
    seqs = list(arrival_seqs)
    return len(seqs) - len(set(seqs))


def rate(packets: int, size_bytes: int, first_ns: int, last_ns: int) -> tuple[float, float]:
    """(packets/s, bits/s) of `packets` spread from first_ns to last_ns: (n−1) gaps over the window."""
    window_ns = last_ns - first_ns
    if packets < 2 or window_ns <= 0:
        return math.nan, math.nan
    pps = (packets - 1) * 1e9 / window_ns
    return pps, pps * size_bytes * 8


def timer_errors_ns(scheduled_ns: Sequence[int], actual_ns: Sequence[int]) -> list[int]:
    """How late each send left against its schedule (the sender's own timer error)."""
    return [a - s for s, a in zip(scheduled_ns, actual_ns, strict=True)]


def percent(part: float, whole: float) -> float:
    """100 × part / whole, NaN when whole is 0."""
    return 100.0 * part / whole if whole else math.nan
