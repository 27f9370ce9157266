"""Raw CSV → PNGs with matplotlib (a real render: seconds of CPU, so not a unit test; the runs the figures
are drawn from are checked in tests/unit/client/test_client_plot.py). scripts/test installs matplotlib and
fails without it, so this skip only happens outside that command."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.client import results
from services.client.plot import plot_files


def test_pngs_written(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    rows = [{"run_id": "a1", "label": "a", "seq": i, "send_offset_s": i / 100, "received": i != 3,
             "rtt_ms": None if i == 3 else 1 + i / 10, "owd_up_ms": 0.5, "owd_down_ms": 0.5}
            for i in range(10)]
    results.append_rows(tmp_path / "a.csv", rows, results.RAW_COLUMNS)
    written = plot_files([str(tmp_path / "a.csv")], str(tmp_path / "plots"))
    assert [Path(p).name for p in written] == ["rtt_time.png", "rtt_cdf.png", "owd.png"]
    assert all(Path(p).stat().st_size > 1000 for p in written)


def test_link_png_against_a_timeline(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    t0 = 1_700_000_000_000_000_000
    rows = [{"run_id": "a1", "label": "a", "seq": i, "send_offset_s": i / 10, "send_wall_ns": t0 + i * 10**8,
             "received": True, "rtt_ms": 30.0, "owd_up_ms": 10.0, "owd_down_ms": 20.0,
             "arrival_wall_ns": t0 + i * 10**8 + 30_000_000, "size_bytes": 1000} for i in range(30)]
    results.append_rows(tmp_path / "a.csv", rows, results.RAW_COLUMNS)
    (tmp_path / "timeline.csv").write_text(
        "wall_ns,due_wall_ns,late_us,service,link,direction,to,delay_us,jitter_us,loss_pct,rate_bps\n"
        f"{t0},{t0},0,client,edge,up,,10000,0,0,\n{t0},{t0},0,proxy,edge,down,,20000,0,0,2000000\n")
    written = plot_files([str(tmp_path / "a.csv")], str(tmp_path / "plots"), str(tmp_path / "timeline.csv"))
    assert Path(written[-1]).name == "link.png" and Path(written[-1]).stat().st_size > 1000
