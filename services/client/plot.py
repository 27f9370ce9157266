"""Host-side plots (matplotlib, imported lazily): raw per-probe CSVs → PNGs, runs overlaid by label.

Writes `rtt_time.png` (RTT over time, lost probes as red marks on the axis), `rtt_cdf.png`,
`owd.png` (one-way delay up and down over time), and with a link timeline (`--link`) `link.png`:
configured vs measured per window — one-way delay each way, loss, rate (`linkview`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.client import linkview
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


def load_timeline(path: str) -> list[dict[str, str]]:
    try:
        rows = read_rows(path)
        linkview.end_changes(rows)
    except OSError as exc:
        raise PlotError(f"cannot read {path}: {exc}") from exc
    except linkview.TimelineError as exc:
        raise PlotError(f"{path}: {exc}") from exc
    if not rows:
        raise PlotError(f"{path}: the timeline has no changes")
    return rows


def link_series(runs: Series, timeline: list[dict[str, str]], window_s: float) -> dict[str, list[Any]]:
    """Per run, its windows against the timeline, all on one time axis (the earliest probe is 0)."""
    per_run = {name: linkview.windows(rows, timeline, window_s) for name, rows in runs.items()}
    starts = [w[0].start_wall_ns for w in per_run.values() if w]
    if not starts:
        raise PlotError("the raw files carry no send_wall_ns: record them with this client's qos --raw")
    return {name: [((w.start_wall_ns - min(starts)) / 1e9, w) for w in windows]
            for name, windows in per_run.items()}


def _link(plt: Any, series: dict[str, list[Any]], out: Path, window_s: float) -> Path:
    fig, (delay, loss, rate) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    drawn = False
    for name, points in series.items():
        xs = [x for x, _ in points]
        if not drawn and points:
            for direction, style in (("up", "-"), ("down", "--")):
                delay.step(xs, [w.configured[direction].delay_ms for _, w in points], style, where="post",
                           color="black", label=f"configured {direction}")
            loss.step(xs, [w.configured_loss_pct for _, w in points], "-", where="post", color="black",
                      label="configured")
            rate.step(xs, [(w.configured["down"].rate_bps or float("nan")) / 1e6 for _, w in points], "-",
                      where="post", color="black", label="configured down (line rate)")
            drawn = True
        for direction, marker in (("up", "o"), ("down", "s")):
            delay.plot(xs, [w.owd_ms[direction] for _, w in points], marker, markersize=3,
                       label=f"{name} {direction}")
        loss.plot(xs, [w.loss_pct for _, w in points], "o", markersize=3, label=name)
        rate.plot(xs, [w.received_bps / 1e6 for _, w in points], "o", markersize=3, label=f"{name} received")
    delay.set(ylabel="one-way delay (ms)", title=f"configured vs measured per {window_s:g} s window")
    loss.set(ylabel="loss (%)")
    rate.set(xlabel="time since the first probe (s)", ylabel="Mbit/s")
    for axis in (delay, loss, rate):
        axis.legend(loc="upper right", fontsize="small")
    return _save(plt, fig, out / "link.png")


def plot_files(paths: Sequence[str], out_dir: str, link: str | None = None,
               window_s: float = 1.0) -> list[str]:
    """Draw the figures for the runs in `paths` (and `link.png` against a timeline); returns the files."""
    runs = load_runs(paths)
    series = link_series(runs, load_timeline(link), window_s) if link else None
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [str(draw(plt, runs, out)) for draw in (_rtt_time, _rtt_cdf, _owd)]
    if series is not None:
        written.append(str(_link(plt, series, out, window_s)))
    return written
