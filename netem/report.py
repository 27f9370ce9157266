"""Scenario report: configured vs measured per profile, as Markdown plus PNG plots (matplotlib)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netem.calibrate import expected_for


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


def summarize(rows: Sequence[dict[str, Any]]) -> list[ProfileSummary]:
    """One summary per profile, in first-seen order (pure)."""
    profiles = list(dict.fromkeys(str(r.get("profile", "")) for r in rows))
    summaries = []
    for profile in profiles:
        mine = [r for r in rows if str(r.get("profile", "")) == profile]
        qos = [r for r in mine if r.get("kind") == "qos"]
        http = [r for r in mine if r.get("kind") == "http"]
        want = expected_for(profile)
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


def plot(summaries: Sequence[ProfileSummary], path: Path) -> bool:
    """Grouped bars configured vs measured (RTT, loss, rate); False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = [s.profile for s in summaries]
    panels: list[tuple[str, list[float | None], list[float | None]]] = [
        ("RTT (ms)", [s.rtt_configured_ms for s in summaries], [s.rtt_measured_ms for s in summaries]),
        ("loss (%)", [s.loss_configured_pct for s in summaries], [s.loss_measured_pct for s in summaries]),
        ("down rate (Mbit/s)", [s.rate_down_configured_mbps for s in summaries],
         [s.goodput_measured_mbps for s in summaries])]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    xs = list(range(len(names)))
    for ax, (title, configured, measured) in zip(list(axes), panels, strict=True):
        ax.bar([x - 0.2 for x in xs], [v or 0 for v in configured], 0.4, label="configured")
        ax.bar([x + 0.2 for x in xs], [v or 0 for v in measured], 0.4, label="measured")
        ax.set_xticks(xs, names, rotation=30, ha="right")
        ax.set_title(title)
        values = [v for v in (*configured, *measured) if v]
        if title.startswith("down rate") and values and max(values) > 20 * min(values):
            ax.set_yscale("log")  # an unshaped gigabit next to a shaped megabit link
        elif not values:
            ax.set_ylim(0, 1)  # all zero: no meaningless negative axis
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write(name: str, rows: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write `<name>.md`, `<name>.png` (when matplotlib is there) and `<name>.jsonl` (the rows)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = summarize(rows)
    raw = out_dir / f"scenario-{name}.jsonl"
    raw.write_text("".join(json.dumps(r, default=str) + "\n" for r in rows), encoding="utf-8")
    png = out_dir / f"scenario-{name}.png"
    text = markdown(name, summaries)
    written = [raw]
    if plot(summaries, png):
        text += f"\n![configured vs measured]({png.name})\n"
        written.append(png)
    else:
        text += "\n(plots skipped: matplotlib is not installed; `pip install matplotlib`)\n"
    md = out_dir / f"scenario-{name}.md"
    md.write_text(text, encoding="utf-8")
    return [md, *written]
