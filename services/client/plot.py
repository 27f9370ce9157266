"""Host-side plots (matplotlib, imported lazily): raw per-probe CSVs → PNGs, runs overlaid by label.

Writes `rtt_time.png` (RTT over time, lost probes as red marks on the axis), `rtt_cdf.png`,
`owd.png` (one-way delay up and down over time).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.client.results import read_rows


class PlotError(Exception):
    """Missing matplotlib, unreadable or empty input."""


Series = dict[str, list[dict[str, str]]]


def load_runs(paths: Sequence[str]) -> Series:
    """Rows of every raw CSV grouped by run (label, else run id)."""
    runs: Series = {}
    for path in paths:
        try:
            rows = read_rows(path)
        except OSError as exc:
            raise PlotError(f"cannot read {path}: {exc}") from exc
        for row in rows:
            if "seq" not in row or "rtt_ms" not in row:
                raise PlotError(f"{path} is not a raw QoS CSV (write one with `qos --raw`)")
            key = f"{row.get('label') or 'run'} {row.get('run_id', '')[:6]}".strip()
            runs.setdefault(key, []).append(row)
    if not runs:
        raise PlotError("no rows in the given files")
    return runs


def _floats(rows: list[dict[str, str]], column: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        if row.get(column):
            xs.append(float(row["send_offset_s"]))
            ys.append(float(row[column]))
    return xs, ys


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotError("matplotlib is missing: pip install matplotlib (host side only)") from exc
    return plt


def _rtt_time(plt: Any, runs: Series, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 4))
    for name, rows in runs.items():
        xs, ys = _floats(rows, "rtt_ms")
        line = ax.plot(xs, ys, ".", markersize=2, label=name)[0]
        lost = [float(r["send_offset_s"]) for r in rows if r.get("received") == "0"]
        ax.plot(lost, [0.0] * len(lost), "|", color=line.get_color(), markersize=12)
    ax.set(xlabel="time since first probe (s)", ylabel="RTT (ms)", title="RTT over time (| = lost)")
    ax.legend(loc="upper right")
    return _save(plt, fig, out / "rtt_time.png")


def _rtt_cdf(plt: Any, runs: Series, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, rows in runs.items():
        values = sorted(_floats(rows, "rtt_ms")[1])
        if values:
            ax.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=name)
    ax.set(xlabel="RTT (ms)", ylabel="fraction of probes", title="RTT CDF")
    ax.legend(loc="lower right")
    return _save(plt, fig, out / "rtt_cdf.png")


def _owd(plt: Any, runs: Series, out: Path) -> Path:
    fig, (up, down) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for name, rows in runs.items():
        up.plot(*_floats(rows, "owd_up_ms"), ".", markersize=2, label=name)
        down.plot(*_floats(rows, "owd_down_ms"), ".", markersize=2, label=name)
    up.set(ylabel="up (ms)", title="one-way delay (client → server, server → client)")
    down.set(xlabel="time since first probe (s)", ylabel="down (ms)")
    up.legend(loc="upper right")
    return _save(plt, fig, out / "owd.png")


def _save(plt: Any, fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_files(paths: Sequence[str], out_dir: str) -> list[str]:
    """Draw the three figures for the runs in `paths`; returns the files written."""
    runs = load_runs(paths)
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [str(draw(plt, runs, out)) for draw in (_rtt_time, _rtt_cdf, _owd)]
