"""An RRUL-style figure of a saved run (host side, matplotlib): throughput and latency on one time axis.

Top: download and upload throughput (from the TCP byte counts, averaged over `SMOOTH_S`). Bottom: the
latency probes — UDP RTT (dots), foreign probes (fresh-connection GET, TCP handshake + HTTP time) and
the load connections' own RTT (TCP_INFO). Phases are shaded and named; their windows (where the
statistics come from) are darker. The title carries the verdict: grade, RPM, idle vs loaded p50.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from services.client.plot import PlotError, _pyplot, _save
from services.client.responsiveness.series import SeriesError, load

SMOOTH_S = 0.5
PHASE_COLOURS = {"idle": "#dddddd", "download": "#cfe3f7", "upload": "#f7dccf", "both": "#e3d5f0"}


def throughput(samples: Sequence[Sequence[float]], smooth_s: float = SMOOTH_S
               ) -> tuple[list[float], list[float], list[float]]:
    """(t, down Mbit/s, up Mbit/s) from cumulative byte samples, each over the last `smooth_s`."""
    ts, downs, ups = [], [], []
    start = 0
    for index, (t, down, up) in enumerate(samples):
        while samples[start][0] < t - smooth_s and start < index:
            start += 1
        t0, d0, u0 = samples[start]
        if t > t0:
            ts.append(t)
            downs.append((down - d0) * 8 / (t - t0) / 1e6)
            ups.append((up - u0) * 8 / (t - t0) / 1e6)
    return ts, downs, ups


def _title(data: Mapping[str, Any]) -> str:
    summary: dict[str, Any] = next((r for r in data.get("rows", []) if r.get("phase") == "all"), {})
    name = data.get("label") or data.get("profile") or data.get("run_id", "")

    def number(key: str, digits: int = 0) -> str:
        value = summary.get(key)
        return "-" if value is None else f"{value:.{digits}f}"

    return (f"{name}: grade {summary.get('bufferbloat_grade') or '-'}, RPM {number('rpm')} "
            f"({summary.get('rpm_rating') or '-'}); RTT p50 idle {number('idle_rtt_median_ms', 1)} ms, "
            f"loaded {number('loaded_rtt_median_ms', 1)} ms")


def _phases(axes: Sequence[Any], data: Mapping[str, Any]) -> None:
    for phase in data["phases"]:
        colour = PHASE_COLOURS.get(phase["name"], "#eeeeee")
        for ax in axes:
            ax.axvspan(phase["start_s"], phase["end_s"], color=colour, alpha=0.5, lw=0)
            ax.axvspan(phase["window_start_s"], phase["end_s"], color=colour, alpha=0.6, lw=0)
        axes[0].text((phase["start_s"] + phase["end_s"]) / 2, 1.0, phase["name"], ha="center", va="bottom",
                     transform=axes[0].get_xaxis_transform(), fontsize=9)


def _latency(ax: Any, data: Mapping[str, Any]) -> None:
    udp = [(t, v) for t, v in data["udp"] if v is not None]
    lost = [t for t, v in data["udp"] if v is None]
    ax.plot([t for t, _ in udp], [v for _, v in udp], ".", markersize=2, color="black", label="UDP RTT")
    if lost:
        ax.plot(lost, [0.0] * len(lost), "|", color="red", markersize=10, label="UDP lost")
    foreign = [row for row in data["foreign"] if row[1] is not None and row[2] is not None]
    ax.plot([r[0] for r in foreign], [r[1] + r[2] for r in foreign], "x", markersize=4, color="tab:green",
            label="foreign probe (connect + GET)")
    for direction, colour in (("down", "tab:blue"), ("up", "tab:orange")):
        points = [(t, v) for t, d, v in data["self"] if d == direction]
        if points:
            ax.plot([t for t, _ in points], [v for _, v in points], ".", markersize=1.5, alpha=0.5,
                    color=colour, label=f"self RTT, {direction}load flows (TCP_INFO)")
    ax.set(xlabel="time (s)", ylabel="latency (ms)")
    values = [v for _, v in udp] + [r[1] + r[2] for r in foreign]
    if values and max(values) / max(min(values), 1e-3) > 50:
        ax.set_yscale("log")
    ax.legend(loc="best", fontsize=8, markerscale=3, framealpha=0.8)


def plot_series(paths: Sequence[str], out_dir: str) -> list[str]:
    """One figure per saved run: OUT/responsiveness-NAME.png; returns the files written."""
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        try:
            data = load(path)
        except SeriesError as exc:
            raise PlotError(str(exc)) from exc
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True,
                                          gridspec_kw={"height_ratios": [1, 1.4]})
        _phases([top, bottom], data)
        ts, downs, ups = throughput(data["bytes"])
        top.plot(ts, downs, color="tab:blue", label="download")
        top.plot(ts, ups, color="tab:orange", label="upload")
        top.set(ylabel="throughput (Mbit/s)")
        top.legend(loc="upper right", fontsize=8)
        _latency(bottom, data)
        fig.suptitle(_title(data), fontsize=10)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", str(data.get("label") or data.get("run_id") or "run"))
        written.append(str(_save(plt, fig, out / f"responsiveness-{name}.png")))
    return written
