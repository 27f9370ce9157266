"""The scenario report's files: `scenario-NAME.md`, `.png` (matplotlib, when installed) and `.jsonl`.

Loads each profile's expectations (`netem.commands.calibrate.expected_for`, which reads the profile's
YAML) and renders the pure table of `netem.commands.report`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netem.commands.calibrate import expected_for
from netem.commands.report import ProfileSummary, markdown, profiles_of, summarize


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
    summaries = summarize(rows, {profile: expected_for(profile) for profile in profiles_of(rows)})
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
