import json
from pathlib import Path
from typing import Any

import pytest

from netem.commands import calibrate, report, report_files, scenario
from netem.commands.cli import main
from netem.core import expect
from netem.core.errors import ProfileError, ScenarioError, SchemaError
from netem.core.plan import plan_lines
from netem.core.profile import load_profile


def test_plan_prints_argv_per_end_and_steps() -> None:
    lines = plan_lines(load_profile("rate-steps"), "edge")
    assert lines[1] == ("client edge.up [tbf]: tc qdisc replace dev <client@edge> root handle 1: "
                        "tbf rate 20mbit burst 15140 limit 140140")
    assert lines[3].startswith("+10s client edge.up: tc qdisc change dev <client@edge>")
    assert len(lines) == 7


def test_cli_validate_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("description: x\ncore: {loss: 2}\n")
    assert main(["validate", "4g", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert "ok: " in out and f"{bad}: core.loss: invalid value 2: a percentage" in err
    assert main(["plan", "4g"]) == 0
    assert "needs sch_netem for: delay" in capsys.readouterr().out
    assert main(["plan", "missing"]) == 2
    assert main(["list"]) == 0
    assert "rate-10mbit" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["apply"])
    assert info.value.code == 2


def test_client_json_rows_unwrapped() -> None:
    out = ('ts=x event=y\n{"config": {}, "result": {"kind": "qos", "rtt_mean_ms": 1.5}}\n'
           '{"kind": "http"}\nnot json {')
    assert expect.parse_rows(out) == [{"kind": "qos", "rtt_mean_ms": 1.5}, {"kind": "http"}]


def test_expected_values() -> None:
    sat = calibrate.expected_for("satellite")
    assert sat.rtt_ms == 600.0
    assert (sat.up_rate_bps, sat.down_rate_bps) == (3_000_000, 25_000_000)
    assert calibrate.expected_for("lossy").loss_pct == pytest.approx(100 * (1 - (1 - 1 / 31) ** 2))
    assert calibrate.expected_for("none").rtt_ms == 0.0


SCENARIO = {"profiles": ["none", "rate-10mbit"], "tests": ["qos", "http"], "repetitions": 2}


def test_matrix_labels_rows_and_clears_even_on_interrupt() -> None:
    plan = scenario.parse_scenario(SCENARIO, "s.yaml", "s")
    calls: list[str] = []

    def client(profile: str, test: str, extra: list[str]) -> list[dict[str, Any]]:
        calls.append(f"{profile}/{test}")
        if f"{profile}/{test}" == "rate-10mbit/qos":
            raise KeyboardInterrupt
        return [{"kind": test}]

    with pytest.raises(KeyboardInterrupt):
        scenario.run_matrix(plan, lambda p: calls.append(f"apply {p}"), lambda: calls.append("clear"),
                            client, lambda line: None)
    assert calls[0] == "apply none" and calls[-1] == "clear"
    rows = scenario.run_matrix(plan, lambda p: None, lambda: None, lambda p, t, e: [{"kind": t}],
                               lambda s: None)
    assert len(rows) == 8 and rows[-1] == {"kind": "http", "profile": "rate-10mbit", "repetition": 2}


@pytest.mark.parametrize(("raw", "key"), [
    ({**SCENARIO, "profiles": ["nope"]}, "profile"), ({**SCENARIO, "tests": ["ping"]}, "tests"),
    ({**SCENARIO, "repetitions": 0}, "repetitions"), ({**SCENARIO, "extra": 1}, "extra"),
    ({**SCENARIO, "family": "ipv5"}, "family"),
])
def test_scenario_errors(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(SchemaError) as info:
        scenario.parse_scenario(raw, "s.yaml", "s")
    assert info.value.key == key
    assert isinstance(info.value, ProfileError if key == "profile" else ScenarioError), type(info.value)


def test_scenario_family_reaches_the_client_runs() -> None:
    assert scenario.parse_scenario(SCENARIO, "s.yaml", "s").family == "auto"
    assert scenario.parse_scenario({**SCENARIO, "family": "6"}, "s.yaml", "s").family == "6"
    assert scenario.parse_scenario({**SCENARIO, "family": 6}, "s.yaml", "s").family == "6"


_BASE = {"profile": "rate-10mbit"}
REPORT_ROWS = [{**_BASE, "kind": "qos", "rtt_mean_ms": "0.3", "jitter_ms": "0.05", "loss_pct": "0"},
               {**_BASE, "kind": "http", "goodput_mbps": "9.4", "x_cache": "MISS", "total_ms": "40"},
               {**_BASE, "kind": "http", "goodput_mbps": "9.6", "x_cache": "HIT", "total_ms": "4"}]


@pytest.mark.parametrize("drawn", [True, False], ids=["plot-drawn", "no-matplotlib"])
def test_report_configured_vs_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, drawn: bool) -> None:
    """The table, the rows and the link to the figure; the figure itself is rendered in
    tests/integration/netem/test_report_plot.py (here `plot` only says whether it could draw)."""
    summary = report.summarize(REPORT_ROWS, {"rate-10mbit": calibrate.expected_for("rate-10mbit")})[0]
    assert summary.rate_down_configured_mbps == 10.0 and summary.goodput_measured_mbps == pytest.approx(9.5)
    assert (summary.miss_ms, summary.hit_ms) == (40.0, 4.0)
    drawn_for: list[list[str]] = []

    def plot(summaries: Any, path: Path) -> bool:
        drawn_for.append([s.profile for s in summaries])
        return drawn

    monkeypatch.setattr(report_files, "plot", plot)
    written = report_files.write("t", REPORT_ROWS, tmp_path)
    text = written[0].read_text()
    assert "| rate-10mbit | 0 | 0.3 | +0.3 |" in text
    assert json.loads((tmp_path / "scenario-t.jsonl").read_text().splitlines()[0])["kind"] == "qos"
    assert drawn_for == [["rate-10mbit"]]
    png = ["scenario-t.png"] if drawn else []
    assert [p.name for p in written] == ["scenario-t.md", "scenario-t.jsonl", *png]
    assert ("![configured vs measured](scenario-t.png)" in text) is drawn
    assert ("plots skipped" in text) is not drawn


def test_shipped_scenarios_parse() -> None:
    for path in sorted(Path(__file__).resolve().parents[3].joinpath("scenarios").glob("*.yaml")):
        assert scenario.load_scenario(str(path)).profiles
