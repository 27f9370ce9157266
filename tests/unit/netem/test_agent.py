"""The agent's pure parts: which qdiscs it drives (with a queue limit fixed over the whole trace), the
timeline file it appends, and the bundle the controller ships."""

from __future__ import annotations

import csv
from pathlib import Path

from netem.commands import agent, dynamic, plans
from netem.core.engine import Target
from netem.core.fields import Impairment
from netem.core.tc import default_limit_packets
from netem.traces import timeline
from netem.traces.load import load


def loaded_profile(tmp_path: Path) -> Path:
    (tmp_path / "cell.down").write_text("0\n0\n0\n10\n")  # 3.6 Mbit/s for 10 ms, repeating
    (tmp_path / "rec.dist").write_text("-3 0 3\n")
    (tmp_path / "p.yaml").write_text("description: p\nedge:\n  down: {trace: cell.down, delay: 40ms}\n"
                                     "  up: {delay: 5ms, jitter: 1ms, distribution: rec.dist}\n")
    return tmp_path / "p.yaml"


def test_driven_ends_are_the_traced_and_the_tabled_with_a_fixed_limit(tmp_path: Path) -> None:
    loaded = load(str(loaded_profile(tmp_path)))
    runner = object()
    ends = [plans.plan_end(loaded.profile, Target(svc, "edge", d, "eth0", runner))  # type: ignore[arg-type]
            for svc, d in (("proxy", "down"), ("client", "up"))]
    found = {d.ref.label: d for d in agent.driven(loaded, ends)}
    assert sorted(found) == ["client:edge.up", "proxy:edge.down"]
    down = found["proxy:edge.down"].imp
    peak = Impairment(delay_us=40_000, rate_bps=max(c.values["rate_bps"] for c in
                                                     loaded.schedules[down.trace].changes))  # type: ignore[index]
    assert down.limit == default_limit_packets(peak)
    assert found["client:edge.up"].imp.limit is None  # no trace: the end's own default


def test_timeline_rows_are_appended_with_one_header(tmp_path: Path) -> None:
    path = tmp_path / "netem-timeline.csv"
    writer = agent.TimelineFile(path)
    ref = timeline.EndRef("proxy", "edge", "down")
    writer.append([timeline.row(ref, Impairment(delay_us=1000, rate_bps=16000), 5, 4, 1000)])
    writer.append([timeline.row(ref, Impairment(delay_us=2000), 6, 6, 0)])
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["delay_us"] for r in rows] == ["1000", "2000"] and rows[0]["rate_bps"] == "16000"
    assert path.read_text().count("due_wall_ns") == 1
    assert agent.timeline_path({"NETEM_TIMELINE": ""}) is None
    assert agent.timeline_path({"QOSLAB_RESULTS_DIR": str(tmp_path)}) == path


def test_the_bundle_carries_the_profile_and_every_file_it_names(tmp_path: Path) -> None:
    loaded = load(str(loaded_profile(tmp_path)))
    files, main = dynamic.bundle(loaded)
    assert main == "p.yaml" and sorted(files) == ["cell.down", "p.yaml", "rec.dist"]
    assert files["cell.down"] == b"0\n0\n0\n10\n"
