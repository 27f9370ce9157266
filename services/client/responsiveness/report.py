"""Human-readable lines for responsiveness rows: one per phase, and the verdict of the summary row."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _n(value: Any, digits: int = 1) -> str:
    if value is None or value == "" or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _mbit(value: Any) -> str:
    return "-" if not isinstance(value, int | float) or value != value else f"{value / 1e6:.2f}"


HEADER = (f"{'phase':<9} {'down Mbit/s':>11} {'up Mbit/s':>9} {'RTT p50/p90/p99 ms':>22} {'+ms':>7} "
          f"{'grade':>5} {'RPM':>7} {'foreign/self':>13} {'conf.':>6}")


def line(row: Mapping[str, Any]) -> str:
    """One phase (or the summary) in the table's columns."""
    if row.get("phase") == "all":
        return summary(row)
    rtts = "/".join(_n(row.get(f"rtt_{s}_ms")) for s in ("median", "p90", "p99"))
    both = f"{_n(row.get('rpm_foreign'), 0)}/{_n(row.get('rpm_self'), 0)}"
    text = (f"{row.get('phase', '?')!s:<9} {_mbit(row.get('throughput_down_bps')):>11} "
            f"{_mbit(row.get('throughput_up_bps')):>9} {rtts:>22} {_n(row.get('latency_increase_ms')):>7} "
            f"{_n(row.get('bufferbloat_grade')):>5} {_n(row.get('rpm'), 0):>7} {both:>13} "
            f"{_n(row.get('rpm_confidence')):>6}")
    return text if row.get("ok") else f"{text}  FAILED: {row.get('error')}"


def summary(row: Mapping[str, Any]) -> str:
    idle = "/".join(_n(row.get(f"idle_rtt_{s}_ms")) for s in ("median", "p90", "p99"))
    loaded = "/".join(_n(row.get(f"loaded_rtt_{s}_ms")) for s in ("median", "p90", "p99"))
    text = (f"responsiveness: grade {_n(row.get('bufferbloat_grade'))} "
            f"(latency +{_n(row.get('latency_increase_ms'))} ms under load), "
            f"RPM {_n(row.get('rpm'), 0)} ({_n(row.get('rpm_rating'))}, confidence "
            f"{_n(row.get('rpm_confidence'))}); RTT p50/p90/p99 idle {idle} ms, loaded {loaded} ms; "
            f"down {_mbit(row.get('throughput_down_bps'))} Mbit/s, "
            f"up {_mbit(row.get('throughput_up_bps'))} Mbit/s")
    if row.get("errors_by_kind"):
        text += f"; load connection errors {row['errors_by_kind']}"
    return text if row.get("ok") else f"{text}\n  FAILED: {row.get('error')}"
