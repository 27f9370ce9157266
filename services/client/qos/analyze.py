"""Turn a run's records into the result columns and per-packet rows, one metric function at a time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from services.client import clocks
from services.client.qos import metrics
from services.client.qos.records import Arrival, Recorder
from services.client.qos.runner import QosRun
from services.common.inet import format_host_port

NS_PER_MS = 1e6


@dataclass(frozen=True)
class PacketView:
    """Per-packet derived values for the first arrival of each sequence number."""

    first: dict[int, Arrival]
    rtt_ns: dict[int, int]
    up_ns: dict[int, int]
    down_ns: dict[int, int]


def packet_view(recorder: Recorder) -> PacketView:
    sends = recorder.sends
    first: dict[int, Arrival] = {}
    for arrival in recorder.arrivals:
        first.setdefault(arrival.seq, arrival)
    rtt = {seq: metrics.rtt_ns(sends.mono_ns[seq], a.mono_ns, a.server_recv_ns, a.server_send_ns)
           for seq, a in first.items()}
    up = {seq: metrics.oneway_ns(sends.wall_ns[seq], a.server_recv_ns)
          for seq, a in first.items() if a.server_recv_ns}
    down = {seq: metrics.oneway_ns(a.server_send_ns, a.wall_ns)
            for seq, a in first.items() if a.server_send_ns}
    return PacketView(first, rtt, up, down)


def _stats_columns(prefix: str, values_ns: list[int]) -> dict[str, float]:
    stats = metrics.summarize(values_ns)
    return {f"{prefix}_{name}_ms": getattr(stats, name) / NS_PER_MS
            for name in ("min", "mean", "median", "p90", "p95", "p99", "max", "stddev")}


def same_clock(host: str, view: PacketView, override: bool | None = None) -> bool:
    """One-way delays are exact when both ends read one clock: loopback, or the user says so (compose)."""
    if override is not None:
        return override
    negative = any(v < 0 for v in view.up_ns.values()) or any(v < 0 for v in view.down_ns.values())
    return clocks.is_loopback(host) and not negative


@dataclass(frozen=True)
class OneWay:
    """The one-way delays as reported: absolute (shared clock), min-subtracted, or none."""

    mode: str
    shared: bool | None  # None: the echo stamped nothing
    up_ns: dict[int, int]
    down_ns: dict[int, int]


def oneway_view(run: QosRun, view: PacketView, same: bool | None,
                separate: str = clocks.RELATIVE) -> OneWay:
    if not view.up_ns:
        return OneWay(clocks.configured_mode(same, separate, run.config.host), None, {}, {})
    shared = same_clock(run.config.host, view, same)
    mode = clocks.mode(shared, separate)
    return OneWay(mode, shared, clocks.oneway(view.up_ns, mode), clocks.oneway(view.down_ns, mode))


def _delay_columns(run: QosRun, view: PacketView, same: bool | None, separate: str) -> dict[str, Any]:
    arrival_order = [a for a in run.recorder.arrivals if view.first[a.seq] is a]
    sends = run.recorder.sends
    jitter = metrics.jitter_rfc3550([sends.mono_ns[a.seq] for a in arrival_order],
                                    [sends.mono_ns[a.seq] + view.rtt_ns[a.seq] for a in arrival_order])
    ipdv = [abs(v) for v in metrics.ipdv_ns(view.rtt_ns)]
    pdv = sorted(metrics.pdv_ns(view.rtt_ns.values()))
    ipdv_sorted = sorted(ipdv)
    oneway = oneway_view(run, view, same, separate)
    row: dict[str, Any] = {
        **_stats_columns("rtt", list(view.rtt_ns.values())),
        **_stats_columns("owd_up", list(oneway.up_ns.values())),
        **_stats_columns("owd_down", list(oneway.down_ns.values())),
        "owd_same_clock": oneway.shared, clocks.COLUMN: oneway.mode,
        "jitter_ms": jitter / NS_PER_MS if len(arrival_order) > 1 else math.nan,
        "ipdv_mean_abs_ms": (sum(ipdv) / len(ipdv) / NS_PER_MS) if ipdv else math.nan,
        "ipdv_p99_ms": metrics.percentile(ipdv_sorted, 99) / NS_PER_MS,
        "pdv_p99_ms": metrics.percentile(pdv, 99) / NS_PER_MS,
    }
    return row


def _loss_columns(run: QosRun, view: PacketView) -> dict[str, Any]:
    sent = len(run.recorder.sends)
    seqs = [a.seq for a in run.recorder.arrivals]
    lost = metrics.lost(sent, seqs)
    counts = metrics.unwrap(a.server_count for a in run.recorder.arrivals if a.server_count is not None)
    split = metrics.loss_by_direction(lost, counts)
    dup = metrics.duplicates(seqs)
    reordered = metrics.reordered(seqs)
    return {
        "packets_received": len(view.first), "lost_packets": lost, "loss_pct": metrics.percent(lost, sent),
        "lost_up_packets": split[0] if split else None, "lost_down_packets": split[1] if split else None,
        "loss_up_pct": metrics.percent(split[0], sent) if split else None,
        "loss_down_pct": metrics.percent(split[1], sent) if split else None,
        "loss_wait_s": run.wait_s,
        "late_packets": metrics.late(view.rtt_ns.values(), int(run.wait_s * 1e9)),
        "reordered_packets": reordered, "reordered_pct": metrics.percent(reordered, len(view.first)),
        "duplicate_packets": dup, "duplicate_pct": metrics.percent(dup, sent),
        "rejected_packets": sum(run.recorder.rejected.values()),
    }


def _rate_columns(run: QosRun, view: PacketView) -> dict[str, Any]:
    sends = run.recorder.sends
    size = run.config.size
    offered = metrics.rate(len(sends), size, sends.mono_ns[0], sends.mono_ns[-1]) if len(sends) else (
        math.nan, math.nan)
    arrivals = sorted(a.mono_ns for a in view.first.values())
    received = metrics.rate(len(arrivals), size, arrivals[0], arrivals[-1]) if arrivals else (
        math.nan, math.nan)
    errors = sorted(metrics.timer_errors_ns(sends.sched_mono_ns, sends.mono_ns))
    return {
        "offered_pps": offered[0], "offered_bps": offered[1],
        "received_pps": received[0], "received_bps": received[1],
        "timer_error_mean_us": sum(errors) / len(errors) / 1e3 if errors else math.nan,
        "timer_error_p99_us": metrics.percentile(errors, 99) / 1e3,
        "timer_error_max_us": errors[-1] / 1e3 if errors else math.nan,
    }


def result_columns(run: QosRun, same: bool | None = None, separate: str = clocks.RELATIVE) -> dict[str, Any]:
    """Every QoS column of `qos_result.csv` for this run (see results.COLUMNS)."""
    config, sends = run.config, run.recorder.sends
    view = packet_view(run.recorder)
    duration = (sends.mono_ns[-1] - sends.mono_ns[0]) / 1e9 if len(sends) else 0.0
    row: dict[str, Any] = {
        "target": format_host_port(config.host, config.port), "packets_sent": len(sends),
        "missed_sends": sends.missed, "send_errors": sends.errors, "duration_s": duration,
        "interval_ms": config.interval_s * 1e3,
        "size_bytes": config.size, "tos": config.tos, "poisson": config.poisson, "burst": config.burst,
        "kernel_timestamps": run.recorder.kernel_timestamps, "ip_version": run.ip_version,
    }
    row.update(_delay_columns(run, view, same, separate))
    row.update(_loss_columns(run, view))
    row.update(_rate_columns(run, view))
    row["ok"] = len(sends) > 0 and len(view.first) > 0
    return row


def raw_rows(run: QosRun, run_id: str, label: str, same: bool | None = None,
             separate: str = clocks.RELATIVE) -> list[dict[str, Any]]:
    """One row per probe sent (lost ones have empty delays), for plots and re-analysis.

    One-way delays follow the same clock mode as the run's result row."""
    sends = run.recorder.sends
    view = packet_view(run.recorder)
    oneway = oneway_view(run, view, same, separate)
    counts: dict[int, int] = {}
    for each in run.recorder.arrivals:
        counts[each.seq] = counts.get(each.seq, 0) + 1
    reordered: set[int] = set()
    highest = -1
    for seq in (a.seq for a in run.recorder.arrivals if view.first[a.seq] is a):
        if seq < highest:
            reordered.add(seq)
        highest = max(highest, seq)
    threshold = int(run.wait_s * 1e9)
    start = sends.mono_ns[0] if len(sends) else 0
    rows = []
    for seq in range(len(sends)):
        arrival = view.first.get(seq)
        rtt = view.rtt_ns.get(seq)
        rows.append({
            "run_id": run_id, "label": label, "seq": seq, "send_offset_s": (sends.mono_ns[seq] - start) / 1e9,
            "send_wall_ns": sends.wall_ns[seq],
            "timer_error_us": (sends.mono_ns[seq] - sends.sched_mono_ns[seq]) / 1e3,
            "received": arrival is not None, "arrivals": counts.get(seq, 0),
            "rtt_ms": rtt / NS_PER_MS if rtt is not None else None,
            "owd_up_ms": oneway.up_ns[seq] / NS_PER_MS if seq in oneway.up_ns else None,
            "owd_down_ms": oneway.down_ns[seq] / NS_PER_MS if seq in oneway.down_ns else None,
            "server_recv_ns": arrival.server_recv_ns or None if arrival else None,
            "server_send_ns": arrival.server_send_ns or None if arrival else None,
            "arrival_wall_ns": arrival.wall_ns if arrival else None,
            "reordered": seq in reordered if arrival else None,
            "late": rtt > threshold if rtt is not None else None, "ip_version": run.ip_version,
            "send_mono_ns": sends.mono_ns[seq], "arrival_mono_ns": arrival.mono_ns if arrival else None,
            "server_count": arrival.server_count if arrival else None, clocks.COLUMN: oneway.mode,
            "size_bytes": run.config.size,
        })
    return rows
