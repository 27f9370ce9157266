"""The scenario runner's report from a VM run: `python -m netem.vm scenario scenarios/vm-delay.yaml`.

Unimpaired vs 50 ms each way on edge, QoS probes in the client namespace, the report written on the host.
Runs under the same condition as the fidelity suite (QOSLAB_VM=1); ~1 min under TCG.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from netem.commands.calibrate import expected_for
from netem.vm.host import build
from netem.vm.host import scenario as vm_scenario

pytestmark = [pytest.mark.vm, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
SCENARIO = "scenarios/vm-delay.yaml"
DELAYED = "tests/vm/profiles/edge-delay-50ms.yaml"
MEDIAN_REL = 0.05  # the median shift: constant delay, little TCG noise
MEAN_REL = 0.15  # the report's mean also carries the stalls a busy TCG host adds to some probes


def _qos(rows: list[dict[str, Any]], profile: str, key: str) -> float:
    values = [float(r[key]) for r in rows if r.get("profile") == profile and r.get("kind") == "qos"]
    assert values, f"no qos row for {profile}: {rows}"
    return sum(values) / len(values)


def test_scenario_report_from_a_vm_run(image: build.Image, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # the scenario names its delay profile by a path in the checkout
    scenario, spec = vm_scenario.spec_for(SCENARIO)
    code, written = vm_scenario.run(image, scenario, spec, tmp_path, timeout_s=600.0,
                                    echo=sys.__stderr__ or sys.stderr)
    assert code == 0, f"exit {code}"
    md = (tmp_path / "scenario-vm-delay.md").read_text()
    assert tmp_path / "scenario-vm-delay.md" in written
    assert "| none |" in md and f"| {DELAYED} | 100 |" in md, md
    rows = [json.loads(line) for line in (tmp_path / "scenario-vm-delay.jsonl").read_text().splitlines()]
    configured = expected_for(DELAYED).rtt_ms - expected_for("none").rtt_ms
    for key, rel in (("rtt_median_ms", MEDIAN_REL), ("rtt_mean_ms", MEAN_REL)):
        measured = _qos(rows, DELAYED, key) - _qos(rows, "none", key)
        assert measured == pytest.approx(configured, rel=rel), f"{key}: Δ {measured:.2f} ms\n{md}"
