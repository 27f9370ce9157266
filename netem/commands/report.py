"""Scenario report: configured vs measured per profile, as a Markdown table (pure).

The expectations come in (`netem.core.expect.Expected` per profile); `netem.commands.report_files` loads
them from the profiles and writes the Markdown, PNG and JSONL files.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netem.core.expect import Expected


@dataclass(frozen=True)
class ProfileSummary:
    profile: str
    rtt_configured_ms: float
    rtt_measured_ms: float | None
    jitter_configured_ms: float
    jitter_measured_ms: float | None
    loss_configured_pct: float
    loss_measured_pct: float | None
    rate_down_configured_mbps: float | None
    goodput_measured_mbps: float | None
    miss_ms: float | None
    hit_ms: float | None


def _mean(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    values = []
    for row in rows:
        try:
            values.append(float(row[key]))
        except (KeyError, TypeError, ValueError):
            continue
    return statistics.fmean(values) if values else None


def profiles_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The profiles of `rows`, in first-seen order."""
    return list(dict.fromkeys(str(r.get("profile", "")) for r in rows))


def summarize(rows: Sequence[dict[str, Any]], expectations: Mapping[str, Expected]) -> list[ProfileSummary]:
    """One summary per profile, in first-seen order; `expectations` has an entry for each profile."""
    profiles = profiles_of(rows)
    summaries = []
    for profile in profiles:
        mine = [r for r in rows if str(r.get("profile", "")) == profile]
        qos = [r for r in mine if r.get("kind") == "qos"]
        http = [r for r in mine if r.get("kind") == "http"]
        want = expectations[profile]
        summaries.append(ProfileSummary(
            profile, want.rtt_ms, _mean(qos, "rtt_mean_ms"), want.jitter_ms, _mean(qos, "jitter_ms"),
            want.loss_pct, _mean(qos, "loss_pct"),
            want.down_rate_bps / 1e6 if want.down_rate_bps else None, _mean(http, "goodput_mbps"),
            _mean([r for r in http if str(r.get("x_cache", "")).upper().startswith("MISS")], "total_ms"),
            _mean([r for r in http if str(r.get("x_cache", "")).upper().startswith("HIT")], "total_ms")))
    return summaries


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _diff(measured: float | None, configured: float | None) -> str:
    if measured is None or configured is None:
        return "–"
    return f"{measured - configured:+.3g}"


def markdown(name: str, summaries: Sequence[ProfileSummary]) -> str:
    lines = [f"# Scenario {name}: configured vs measured", "",
             "RTT configured = sum of one-way delays on both links, both directions (probes go "
             "client → proxy relay → server echo and back).", "",
             "| profile | RTT conf ms | RTT meas ms | Δ | jitter conf ms | jitter meas ms | loss conf % | "
             "loss meas % | Δ | rate down conf Mbit/s | goodput meas Mbit/s | miss ms | hit ms |",
             "|" + "---|" * 13]
    for s in summaries:
        lines.append(
            f"| {s.profile} | {_cell(s.rtt_configured_ms)} | {_cell(s.rtt_measured_ms)} | "
            f"{_diff(s.rtt_measured_ms, s.rtt_configured_ms)} | {_cell(s.jitter_configured_ms)} | "
            f"{_cell(s.jitter_measured_ms)} | {_cell(s.loss_configured_pct)} | "
            f"{_cell(s.loss_measured_pct)} | "
            f"{_diff(s.loss_measured_pct, s.loss_configured_pct)} | {_cell(s.rate_down_configured_mbps)} | "
            f"{_cell(s.goodput_measured_mbps)} | {_cell(s.miss_ms)} | {_cell(s.hit_ms)} |")
    return "\n".join(lines) + "\n"
