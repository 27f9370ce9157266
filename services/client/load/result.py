"""A load run → the load columns of `qos_result.csv` (pure)."""

from __future__ import annotations

import math
from typing import Any

from services.client.histogram import Histogram
from services.client.load.model import LoadPlan, LoadStats

# column suffix → percentile
_QUANTILES = {"median": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9, "p9999": 99.99}


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else value / 1e6


def latency_columns(histogram: Histogram, prefix: str) -> dict[str, Any]:
    """`{prefix}_{median,p90,p99,p999,p9999,max}_ms` of a histogram in ns (empty when it is)."""
    columns = {f"{prefix}_{name}_ms": _ms(histogram.percentile(q)) for name, q in _QUANTILES.items()}
    columns[f"{prefix}_max_ms"] = histogram.max / 1e6 if histogram.total else None
    return columns


def load_columns(plan: LoadPlan, stats: LoadStats) -> dict[str, Any]:
    elapsed = stats.elapsed_s
    errors = sum(stats.errors.values())
    columns: dict[str, Any] = {
        "clients": plan.connections, "requests": stats.issued, "requests_ok": stats.ok, "errors": errors,
        "errors_by_kind": ";".join(f"{k}={v}" for k, v in sorted(stats.errors.items())),
        "req_per_s": stats.ok / elapsed if elapsed > 0 else None, "duration_s": elapsed,
        "body_bytes": stats.body_bytes,
        "goodput_mbps": stats.body_bytes * 8 / elapsed / 1e6 if elapsed > 0 else None,
        "rate_rps": plan.rate_rps, "pipeline": plan.pipeline,
        "x_cache": ";".join(f"{k}={v}" for k, v in sorted(stats.x_cache.items())),
        "ok": stats.issued > 0 and errors == 0 and stats.ok == stats.issued,
        **latency_columns(stats.latency, "latency"),
    }
    if plan.rate_rps is not None:
        columns.update(latency_columns(stats.uncorrected, "latency_uncorrected"))
    return columns
