"""What a run leaves behind: the saved series (round trip), the plot's data, the human lines, config."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.client.responsiveness import report, series
from services.client.responsiveness.analyze import analyze
from services.client.responsiveness.config import RespConfig, RespConfigError
from services.client.responsiveness.plot import throughput
from tests.unit.client.test_resp_analyze import config, records


def test_series_round_trip(tmp_path: Path) -> None:
    rows = analyze(config(), records())
    data = series.build(config(), records(), rows, {"run_id": "r1", "label": "bloat"})
    path = tmp_path / "sub" / "run.json"
    series.save(path, data)
    assert series.is_series(path)
    loaded = series.load(path)
    assert loaded["label"] == "bloat" and loaded["config"]["phases"] == ["idle", "download"]
    assert [p["name"] for p in loaded["phases"]] == ["idle", "download"]
    assert len(loaded["udp"]) == 70 and loaded["udp"][60] == [6.0, None]  # the lost probe
    assert loaded["foreign"][0] == [0.0, 5.0, 10.0] and loaded["foreign_failed"] == [5.5]
    assert loaded["self"][0] == [3.0, "down", 200.0]
    assert loaded["rows"][-1]["phase"] == "all"


def test_a_file_that_is_not_a_series(tmp_path: Path) -> None:
    other = tmp_path / "raw.csv"
    other.write_text("run_id,seq\n")
    assert not series.is_series(other) and not series.is_series(tmp_path / "missing.json")
    with pytest.raises(series.SeriesError):
        series.load(other)


def test_plot_throughput_from_cumulative_bytes() -> None:
    samples = [[0.0, 0, 0], [0.25, 250_000, 0], [0.5, 500_000, 125_000], [1.0, 1_500_000, 125_000]]
    ts, downs, ups = throughput(samples, smooth_s=0.5)
    assert ts == [0.25, 0.5, 1.0]
    assert downs == pytest.approx([8.0, 8.0, 16.0]) and ups == pytest.approx([0.0, 2.0, 0.0])


def test_report_lines() -> None:
    _, download, summary = analyze(config(), records())
    assert report.line(download).split()[:4] == ["download", "20.00", "-", "110.0/110.0/110.0"]
    assert " C " in report.line(download) and "high" in report.line(download)
    text = report.line({**summary, "ok": False, "error": "upload: no upload throughput"})
    assert text.startswith("responsiveness: grade C (latency +100.0 ms under load), RPM 550 (fair")
    assert "FAILED: upload: no upload throughput" in text


@pytest.mark.parametrize(("changes", "field"), [
    ({"flows_down": 0}, "flows-down"), ({"flows_up": 17}, "flows-up"), ({"phases": ()}, "phases"),
    ({"udp_interval_s": 0.0}, "probe-interval"), ({"upload_bytes": 0}, "upload-size"),
    ({"load_s": 0.0}, "phases"), ({"timeout_s": 0.0}, "timeout")])
def test_config_errors_name_the_flag(changes: dict[str, object], field: str) -> None:
    base = config().as_dict()
    with pytest.raises(RespConfigError) as info:
        RespConfig(**{**base, **changes}).validate()
    assert info.value.field == field
