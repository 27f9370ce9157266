"""The result files: `qos_result.csv` (one row per test, stable columns), raw per-packet CSV, JSON lines.

Column names are a public interface (docs/client.md documents each one): add new columns at the end,
never rename or reorder. Every test kind writes the same columns, empty where not applicable.
"""

from __future__ import annotations

import csv
import json
import math
import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from services.client import csvfile

Row = dict[str, Any]

_STATS = ("min", "mean", "median", "p90", "p95", "p99", "max", "stddev")

COLUMNS: tuple[str, ...] = (
    "timestamp_utc", "run_id", "kind", "label", "profile", "target", "ok", "error",
    # UDP QoS
    "packets_sent", "packets_received", "missed_sends", "send_errors", "duration_s", "interval_ms",
    "size_bytes", "tos", "poisson", "burst",
    *(f"rtt_{s}_ms" for s in _STATS),
    *(f"owd_up_{s}_ms" for s in _STATS),
    *(f"owd_down_{s}_ms" for s in _STATS),
    "owd_same_clock", "jitter_ms", "ipdv_mean_abs_ms", "ipdv_p99_ms", "pdv_p99_ms",
    "lost_packets", "loss_pct", "lost_up_packets", "lost_down_packets", "loss_up_pct", "loss_down_pct",
    "loss_wait_s", "late_packets", "reordered_packets", "reordered_pct", "duplicate_packets",
    "duplicate_pct", "rejected_packets", "offered_pps", "offered_bps", "received_pps", "received_bps",
    "timer_error_mean_us", "timer_error_p99_us", "timer_error_max_us", "kernel_timestamps",
    # HTTP
    "url", "http_status", "x_cache", "body_bytes", "connect_ms", "ttfb_ms", "total_ms", "goodput_mbps",
    # load
    "clients", "requests", "requests_ok", "errors", "errors_by_kind", "req_per_s",
    "latency_median_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms",
    # every row: shared | relative | omitted (services/client/clocks.py)
    "owd_clock",
    # added later (columns are only ever appended)
    "replica", "rate_rps", "pipeline", "latency_p999_ms", "latency_p9999_ms",
    *(f"latency_uncorrected_{s}_ms" for s in ("median", "p90", "p99", "p999", "p9999", "max")),
    # responsiveness (latency under working conditions; one row per phase and a summary, phase=all)
    "phase", "flows_down", "flows_up", "throughput_down_bps", "throughput_up_bps", "latency_increase_ms",
    "bufferbloat_grade", "rpm", "rpm_foreign", "rpm_self", "rpm_rating", "rpm_confidence",
    "foreign_tcp_ms", "foreign_http_ms", "self_rtt_ms", "foreign_probes", "self_probes", "foreign_errors",
    "load_errors", *(f"{when}_rtt_{s}_ms" for when in ("idle", "loaded") for s in ("median", "p90", "p99")),
    "ip_version",  # 4 or 6: the family of the socket that carried the test
    "condition",  # the client's class in a netem client mix (CLIENT_CONDITION; set by the start-up step)
)

RAW_COLUMNS: tuple[str, ...] = (
    "run_id", "label", "seq", "send_offset_s", "send_wall_ns", "timer_error_us", "received", "arrivals",
    "rtt_ms", "owd_up_ms", "owd_down_ms", "server_recv_ns", "server_send_ns", "arrival_wall_ns",
    "reordered", "late",
    "ip_version",
    # added later (appended only): the stamps every figure above is derived from, so a recording can be
    # re-analysed or turned into a replayable profile (`python -m netem record`)
    "send_mono_ns", "arrival_mono_ns", "server_count", "owd_clock", "size_bytes",
)


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def utc_now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def base_row(kind: str, target: str, *, run_id: str, label: str = "", profile: str = "",
             replica: str = "", condition: str = "") -> Row:
    return {"timestamp_utc": utc_now_iso(), "run_id": run_id, "kind": kind, "label": label,
            "profile": profile, "target": target, "replica": replica, "condition": condition}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "" if math.isnan(value) or math.isinf(value) else f"{value:.6g}"
    return str(value)


def format_row(row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    unknown = set(row) - set(columns)
    if unknown:
        raise KeyError(f"columns not in the schema: {sorted(unknown)}")
    return [_cell(row.get(name)) for name in columns]


def append_rows(path: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]],
                columns: Sequence[str] = COLUMNS) -> csvfile.Appended:
    """Append whole rows under a file lock; the header once. A file with other columns is migrated or
    left alone (rows written alongside): see `csvfile`. Raises OSError when the file cannot be written."""
    return csvfile.append(path, [format_row(row, columns) for row in rows], columns)


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json_line(stream: TextIO, obj: Mapping[str, Any]) -> None:
    stream.write(json.dumps(json_safe(obj), sort_keys=False) + "\n")
    stream.flush()


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
