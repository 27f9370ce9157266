"""Records of a responsiveness run → one row per phase and a summary row (pure).

Per phase (within its window): UDP probe RTT statistics, throughput each way from the TCP byte counts,
the draft's RPM from the foreign probes and the self RTTs, the latency increase over the idle phase and
its bufferbloat grade, and the draft's confidence. The summary row (`phase` = `all`) holds the
headline: idle and loaded percentiles, the worst loaded phase's RPM, the overall grade.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.client.qos import metrics
from services.client.qos.records import Recorder
from services.client.responsiveness import grade, rpm, stability
from services.client.responsiveness.config import RespConfig
from services.client.responsiveness.phases import IDLE, Phase
from services.client.responsiveness.records import ByteSample, Records

Row = dict[str, Any]
INTERVAL_S = 1.0  # ID: the draft's interval for the confidence test


@dataclass(frozen=True)
class Timed:
    """A probe result at `t_s` (seconds since the test's start); `value` NaN when it got no answer."""

    t_s: float
    value: float


def udp_rtts(recorder: Recorder, start_ns: int) -> list[Timed]:
    """Each UDP probe's RTT in ms (first reply, echo processing taken out), by its send time."""
    first: dict[int, int] = {}
    for arrival in recorder.arrivals:
        if arrival.seq not in first:
            sent = recorder.sends.mono_ns[arrival.seq]
            first[arrival.seq] = metrics.rtt_ns(sent, arrival.mono_ns, arrival.server_recv_ns,
                                                arrival.server_send_ns)
    return [Timed((sent - start_ns) / 1e9, first[seq] / 1e6 if seq in first else math.nan)
            for seq, sent in enumerate(recorder.sends.mono_ns)]


def _window(items: Sequence[Timed], start_s: float, end_s: float) -> list[Timed]:
    return [item for item in items if start_s <= item.t_s < end_s]


def throughput_bps(samples: Sequence[ByteSample], start_ns: int, end_ns: int) -> tuple[float, float]:
    """(down, up) bit/s between the first sample at or after `start_ns` and the last one before
    `end_ns`; NaN when fewer than two samples fall in between."""
    inside = [s for s in samples if start_ns <= s.at_ns <= end_ns]
    if len(inside) < 2 or inside[-1].at_ns <= inside[0].at_ns:
        return math.nan, math.nan
    seconds = (inside[-1].at_ns - inside[0].at_ns) / 1e9
    return ((inside[-1].down_bytes - inside[0].down_bytes) * 8 / seconds,
            (inside[-1].up_bytes - inside[0].up_bytes) * 8 / seconds)


@dataclass(frozen=True)
class Probes:
    """Every probe of the run on the test's time axis (seconds), ms values."""

    udp: list[Timed]
    tcp_f: list[Timed]
    http_f: list[Timed]  # one per tcp_f, same start times
    self_rtt: list[Timed]
    foreign_errors: list[float]  # start times of foreign probes that failed


def probes(records: Records) -> Probes:
    start = records.start_mono_ns
    tcp_f, http_f, errors = [], [], []
    for probe in records.foreign:
        t_s = (probe.start_ns - start) / 1e9
        if probe.tcp_ns >= 0 and probe.http_ns >= 0 and not probe.error:
            tcp_f.append(Timed(t_s, probe.tcp_ns / 1e6))
            http_f.append(Timed(t_s, probe.http_ns / 1e6))
        else:
            errors.append(t_s)
    self_rtt = [Timed((s.at_ns - start) / 1e9, s.rtt_us / 1e3) for s in records.self_samples]
    return Probes(udp_rtts(records.udp, start), tcp_f, http_f, self_rtt, errors)


def _values(items: Sequence[Timed]) -> list[float]:
    return [item.value for item in items if not math.isnan(item.value)]


def _responsiveness(found: Probes, start_s: float, end_s: float) -> rpm.Responsiveness:
    return rpm.responsiveness(_values(_window(found.tcp_f, start_s, end_s)),
                              _values(_window(found.http_f, start_s, end_s)),
                              _values(_window(found.self_rtt, start_s, end_s)))


def _confidence(phase: Phase, found: Probes, records: Records) -> str:
    """The draft's confidence from 1-s intervals over the whole phase: goodput and RPM settled?"""
    start_ns = records.start_mono_ns
    goodput, responsiveness = [], []
    count = int((phase.end_s - phase.start_s) // INTERVAL_S)
    for index in range(count):
        low = phase.start_s + index * INTERVAL_S
        down, up = throughput_bps(records.bytes, start_ns + int(low * 1e9),
                                  start_ns + int((low + INTERVAL_S) * 1e9))
        goodput.append((down if phase.down else 0.0) + (up if phase.up else 0.0))
        responsiveness.append(_responsiveness(found, low, low + INTERVAL_S).rpm)
    return stability.confidence([goodput, responsiveness])


def phase_row(phase: Phase, found: Probes, records: Records, config: RespConfig,
              idle_median_ms: float) -> Row:
    """The row of one phase (window statistics)."""
    start, end = phase.window_start_s, phase.end_s
    udp = _window(found.udp, start, end)
    received = _values(udp)
    stats = metrics.summarize(received)
    result = _responsiveness(found, start, end)
    down, up = throughput_bps(records.bytes, records.start_mono_ns + int(start * 1e9),
                              records.start_mono_ns + int(end * 1e9))
    increase = grade.increase_ms(stats.median, idle_median_ms) if phase.loaded else math.nan
    row: Row = {
        "phase": phase.name, "duration_s": phase.window_s,
        "flows_down": config.flows_down if phase.down else 0,
        "flows_up": config.flows_up if phase.up else 0,
        "throughput_down_bps": down if phase.down else None,
        "throughput_up_bps": up if phase.up else None,
        "packets_sent": len(udp), "packets_received": len(received),
        "lost_packets": len(udp) - len(received),
        "loss_pct": 100.0 * (len(udp) - len(received)) / len(udp) if udp else None,
        "interval_ms": config.udp_interval_s * 1e3, "size_bytes": config.udp_size,
        **{f"rtt_{name}_ms": getattr(stats, name) if stats.count else None
           for name in ("min", "mean", "median", "p90", "p95", "p99", "max", "stddev")},
        "latency_increase_ms": increase if phase.loaded else None,
        "bufferbloat_grade": grade.grade(increase) if phase.loaded else None,
        "foreign_errors": sum(1 for t in found.foreign_errors if start <= t < end),
        "kernel_timestamps": records.udp.kernel_timestamps,
    }
    row.update(_rpm_columns(result))
    row["rpm_confidence"] = _confidence(phase, found, records) if phase.loaded else None
    return row


def _rpm_columns(result: rpm.Responsiveness) -> Row:
    def number(value: float) -> float | None:
        return None if math.isnan(value) else value

    return {"rpm": number(result.rpm), "rpm_foreign": number(result.foreign_rpm),
            "rpm_self": number(result.self_rpm), "rpm_rating": result.rating or None,
            "foreign_tcp_ms": number(result.tcp_f_ms), "foreign_http_ms": number(result.http_f_ms),
            "self_rtt_ms": number(result.http_l_ms), "foreign_probes": result.foreign_count,
            "self_probes": result.self_count}


def summary_row(rows: Sequence[Row], plan: Sequence[Phase], found: Probes, records: Records) -> Row:
    """The headline: idle vs loaded percentiles, the worst loaded RPM, the overall grade."""
    by_name = {row["phase"]: row for row in rows}
    loaded = [p for p in plan if p.loaded]
    idle = [_window(found.udp, p.window_start_s, p.end_s) for p in plan if p.name == IDLE]
    idle_stats = metrics.summarize(_values(idle[0]) if idle else [])
    loaded_stats = metrics.summarize(
        v for p in loaded for v in _values(_window(found.udp, p.window_start_s, p.end_s)))
    directional = [by_name[name]["latency_increase_ms"] for name in ("download", "upload") if name in by_name]
    if not directional and "both" in by_name:
        directional = [by_name["both"]["latency_increase_ms"]]
    mean_increase, overall = grade.overall(v for v in directional if v is not None)
    rpms = [by_name[p.name]["rpm"] for p in loaded if by_name[p.name]["rpm"] is not None]
    worst = min(rpms) if rpms else None
    confidences = [by_name[p.name]["rpm_confidence"] for p in loaded]
    order = (stability.LOW, stability.MEDIUM, stability.HIGH)
    row: Row = {
        "phase": "all",
        "throughput_down_bps": by_name.get("download", by_name.get("both", {})).get("throughput_down_bps"),
        "throughput_up_bps": by_name.get("upload", by_name.get("both", {})).get("throughput_up_bps"),
        "latency_increase_ms": None if math.isnan(mean_increase) else mean_increase,
        "bufferbloat_grade": overall or None,
        "rpm": worst, "rpm_rating": rpm.classify(worst) if worst is not None else None,
        "rpm_confidence": min(confidences, key=order.index) if confidences else None,
        "load_errors": sum(records.load_errors.values()),
        "foreign_errors": len(found.foreign_errors),
        "kernel_timestamps": records.udp.kernel_timestamps,
    }
    for prefix, stats in (("idle", idle_stats), ("loaded", loaded_stats)):
        for name in ("median", "p90", "p99"):
            row[f"{prefix}_rtt_{name}_ms"] = getattr(stats, name) if stats.count else None
    return row


def analyze(config: RespConfig, records: Records) -> list[Row]:
    """Phase rows in timeline order, then the summary row; `ok` and `error` on each."""
    plan = config.plan()
    found = probes(records)
    idle = next((p for p in plan if p.name == IDLE), None)
    idle_median = (metrics.summarize(_values(_window(found.udp, idle.window_start_s, idle.end_s))).median
                   if idle else math.nan)
    rows = [phase_row(phase, found, records, config, idle_median) for phase in plan]
    for row, phase in zip(rows, plan, strict=True):
        problems = _problems(row, phase, records)
        row["ok"], row["error"] = not problems, "; ".join(problems) or None
    summary = summary_row(rows, plan, found, records)
    failed = [f"{row['phase']}: {row['error']}" for row in rows if not row["ok"]]
    summary["ok"], summary["error"] = not failed, " | ".join(failed) or None
    summary["errors_by_kind"] = ";".join(f"{k}={v}" for k, v in sorted(records.load_errors.items())) or None
    return [*rows, summary]


def _problems(row: Row, phase: Phase, records: Records) -> list[str]:
    """A phase worked when latency was measured and, if loaded, each of its directions moved data.

    A load connection that broke is replaced and counted (`load_errors`, `errors_by_kind`), not fatal:
    the draft would abort, but the numbers of the other connections still mean what they say.
    """
    problems = []
    if not row.get("packets_received") and not row.get("foreign_probes"):
        problems.append(records.udp_error or "no latency probe answered")
    if phase.down and not (row.get("throughput_down_bps") or 0) > 0:
        problems.append("no download throughput")
    if phase.up and not (row.get("throughput_up_bps") or 0) > 0:
        problems.append("no upload throughput")
    return problems
