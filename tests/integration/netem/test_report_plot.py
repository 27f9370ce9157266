"""The scenario report's figure, rendered for real (matplotlib: seconds of CPU, so not a unit test; the
table, the rows and the link are checked in tests/unit/netem/test_cli_plan_report.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from netem.commands import report_files

BASE = {"profile": "rate-10mbit"}
ROWS = [{**BASE, "kind": "qos", "rtt_mean_ms": "0.3", "jitter_ms": "0.05", "loss_pct": "0"},
        {**BASE, "kind": "http", "goodput_mbps": "9.4", "x_cache": "MISS", "total_ms": "40"},
        {**BASE, "kind": "http", "goodput_mbps": "9.6", "x_cache": "HIT", "total_ms": "4"}]


def test_report_png_is_drawn_or_said_to_be_skipped(tmp_path: Path) -> None:
    written = report_files.write("t", ROWS, tmp_path)
    text = written[0].read_text()
    png = tmp_path / "scenario-t.png"
    if importlib.util.find_spec("matplotlib") is None:  # probe the capability, assert each outcome
        assert "plots skipped" in text and not png.exists()
    else:
        assert "plots skipped" not in text and png.stat().st_size > 1000 and png in written
