"""Raw CSVs → the runs a plot draws, and clear errors for bad input (the PNGs themselves are rendered in
tests/integration/client/test_client_plot.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.client import results
from services.client.plot import PlotError, load_runs


def _raw(path: Path, label: str) -> None:
    rows = [{"run_id": label + "1", "label": label, "seq": i, "send_offset_s": i / 100, "received": i != 3,
             "rtt_ms": None if i == 3 else 1 + i / 10, "owd_up_ms": 0.5, "owd_down_ms": 0.5}
            for i in range(10)]
    results.append_rows(path, rows, results.RAW_COLUMNS)


def test_runs_grouped_by_label(tmp_path: Path) -> None:
    _raw(tmp_path / "a.csv", "a")
    _raw(tmp_path / "b.csv", "b")
    runs = load_runs([str(tmp_path / "a.csv"), str(tmp_path / "b.csv")])
    assert sorted(runs) == ["a a1", "b b1"] and len(runs["a a1"]) == 10


def test_bad_input_is_a_plot_error(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("kind,ok\nqos,1\n")
    with pytest.raises(PlotError):
        load_runs([str(tmp_path / "x.csv")])
    with pytest.raises(PlotError):
        load_runs([str(tmp_path / "missing.csv")])
